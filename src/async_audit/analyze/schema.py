"""The declared column schema of the two frames the loader builds; every analysis step relies on it.

Strings that repeat (hosts, routes, libraries, call-site files) are categoricals. Optional numbers are
``float64`` with NaN for "absent"; ``parent`` and ``site_line`` use -1 for "none".
"""

from __future__ import annotations

__all__ = ["CALL_COLUMNS", "REQUEST_COLUMNS", "dtype_name"]

# name -> (dtype, meaning)
REQUEST_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("object", "request id (16 hex digits)"),
    "ts": ("float64", "request start, Unix seconds"),
    "host": ("category", "host that served it"),
    "pid": ("int64", "process id (-1 when absent)"),
    "proto": ("category", "wsgi or asgi"),
    "method": ("category", "HTTP method"),
    "route": ("category", "URL pattern; NaN when nothing resolved"),
    "view": ("category", "dotted path of the view"),
    "status": ("int64", "response status"),
    "ms": ("float64", "wall time"),
    "cpu_ms": ("float64", "thread CPU time; NaN when not measured"),
    "db_n": ("int64", "SQL statements"),
    "db_ms": ("float64", "SQL time"),
    "dropped": ("int64", "calls not recorded (MAX_CALLS_PER_REQUEST)"),
    "unsampled": ("int64", "requests left out by SAMPLE_RATE since the previous record"),
    "lost_queue": ("int64", "records lost to a full queue since the previous record"),
    "lost_write": ("int64", "records lost to failed writes since the previous record"),
    "file": ("category", "record file it came from"),
}

CALL_COLUMNS: dict[str, tuple[str, str]] = {
    "req": ("int64", "row of the request in the requests frame"),
    "idx": ("int64", "position in the request's calls"),
    "kind": ("category", "http, email, sql, task, block"),
    "lib": ("category", "the hook that recorded it"),
    "via": ("category", "outermost third-party package between project code and the hook"),
    "t": ("float64", "start offset from the request start, ms"),
    "ms": ("float64", "duration"),
    "parent": ("int64", "idx of the enclosing call; -1 for a top-level call"),
    "atomic": ("bool", "inside transaction.atomic()"),
    "site_file": ("category", "innermost project frame: file"),
    "site_line": ("int64", "innermost project frame: line (-1 when unknown)"),
    "site_function": ("category", "innermost project frame: function"),
    "error": ("category", "exception class name when the call failed"),
    "method": ("category", "http: method"),
    "host": ("category", "http: host"),
    "port": ("float64", "http: port"),
    "path": ("category", "http: path (identifiers masked)"),
    "status": ("float64", "http: response status"),
    "timeout": ("float64", "http: timeout in seconds; NaN: no timeout (or not http)"),
    "backend": ("category", "email and task: backend"),
    "messages": ("float64", "email: messages"),
    "recipients": ("float64", "email: recipients"),
    "alias": ("category", "sql: database alias"),
    "sql": ("category", "sql: statement fingerprint"),
    "task": ("category", "task: task name"),
    "queue": ("category", "task: queue"),
    "inline": ("bool", "task: the backend runs the work inside the request"),
    "name": ("category", "block: name"),
}


def dtype_name(dtype: object) -> str:
    """The schema's name for a pandas dtype (``category``, ``float64``, ...)."""
    name = str(dtype)
    return "object" if name in ("str", "string") else name
