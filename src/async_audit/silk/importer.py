"""Turn django-silk's recorded requests into version-1 records.

Each ``silk_request`` becomes one record (``proto`` ``"silk"``, ``host`` and ``pid`` null: silk keeps
neither), its ``silk_sqlquery`` rows its ``db`` figures and, at or over ``slow_sql_ms``, its ``sql`` calls,
its ``silk_profile`` rows its ``block`` calls. A request silk never finished (no end time, no response: a
worker killed at the timeout, most often) is kept with ``status`` 0 and the time silk saw it run.

Only the columns named here are ever selected: silk's query strings, bodies, headers and profiler output
never leave the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from async_audit.errors import InputError
from async_audit.record.privacy import _is_identifier as is_identifier
from async_audit.record.privacy import mask_path
from async_audit.silk.database import SilkDatabase
from async_audit.silk.sqltext import silk_sql_fingerprint

__all__ = ["DEFAULT_SLOW_SQL_MS", "ImportStats", "Resolver", "write_records"]

DEFAULT_SLOW_SQL_MS = 100.0  # the recorder's SLOW_SQL_MS default
MAX_CALLS_PER_REQUEST = 200  # the recorder's default cap; more are counted in "dropped"
LIB = "silk"
_MAX_STACK = 8
_NESTING_SLACK_MS = 0.5  # silk's timestamps are taken around, not at, the work: allow for it

#: ``resolver(path) -> (route, view)``, or None when the path resolves to nothing.
Resolver = Callable[[str], "tuple[str | None, str | None] | None"]

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([^\n]+)')
_THIRD_PARTY = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")
_STDLIB = re.compile(r"[/\\]lib[/\\]python\d+(?:\.\d+)?[/\\]")
_PLUMBING = frozenset(
    {"django", "silk", "asgiref", "async_audit", "gunicorn", "uvicorn", "daphne", "whitenoise"}
)


@dataclass
class ImportStats:
    """What an import read and wrote."""

    database: str
    out: Path
    requests: int = 0
    unfinished: int = 0  # no end time or no response: written with status 0
    sql_calls: int = 0
    blocks: int = 0
    routes_resolved: int = 0  # routes from the site's URLconf
    routes_masked: int = 0  # paths with identifiers masked, where no URLconf was given or none matched
    profiles_outside_requests: int = 0  # silk_profile rows of no request (not imported)
    calls_dropped: int = 0  # calls over MAX_CALLS_PER_REQUEST
    project_root: str | None = None  # where file paths were made relative to (on the host silk ran on)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{self.requests:,} requests ({self.unfinished:,} unfinished)"]
        parts.append(f"{self.sql_calls:,} slow SQL calls, {self.blocks:,} silk_profile blocks")
        if self.routes_masked:
            parts.append(f"{self.routes_masked:,} routes are masked paths")
        return f"imported {', '.join(parts)} into {self.out}"


def _request_id(silk_id: Any) -> str:
    return hashlib.blake2b(str(silk_id).encode(), digest_size=8).hexdigest()


def _epoch(value: Any) -> float | None:
    """Unix seconds of a silk timestamp; naive ones are UTC (Django stores UTC when USE_TZ is on)."""
    if value is None:
        return None
    if isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            return None
        value = parsed
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        seconds: float = value.timestamp()
        return seconds
    return None


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _select(db: SilkDatabase, table: str, columns: Sequence[str], where: str = "", order: str = "") -> str:
    """A SELECT of ``columns``, with NULL for the optional ones this schema lacks."""
    items = [c if db.has(table, c) else f"NULL AS {c}" for c in columns]
    sql = f"SELECT {', '.join(items)} FROM {table}"
    if where:
        sql += f" WHERE {where}"
    if order:
        sql += f" ORDER BY {order}"
    return sql


# Call sites --------------------------------------------------------------------------------------------


def _is_project_file(path: str) -> bool:
    return not (path.startswith("<") or _THIRD_PARTY.search(path) or _STDLIB.search(path))


class _Paths:
    """File paths of the host silk ran on, made relative to the project's root there.

    A root is a directory, or ``(directory, relative_to)`` for an installed package named as a project root.
    """

    def __init__(self, roots: Sequence[str | tuple[str, str]]) -> None:
        self.roots: list[tuple[str, str]] = []
        for root in roots:
            path, base = (root, root) if isinstance(root, str) else root
            if path:
                self.roots.append((path.rstrip("/\\"), base.rstrip("/\\")))

    def project(self, path: str) -> bool:
        if not _is_project_file(path):
            return False  # a virtualenv inside the project's directory is still third-party code
        return not self.roots or any(path.startswith((r + "/", r + "\\")) for r, _ in self.roots)

    def relative(self, path: str) -> str:
        for root, base in self.roots:
            if path.startswith((root + "/", root + "\\")):
                return path[len(base) + 1 :].replace("\\", "/")
        return path.replace("\\", "/")


def _guess_root(files: Iterable[str]) -> str | None:
    """The deepest directory holding every project file silk named, when nobody said where the project is."""
    dirs = {os.path.dirname(f) for f in files if f and _is_project_file(f) and os.path.isabs(f)}
    if not dirs:
        return None
    try:
        return os.path.commonpath(sorted(dirs))
    except ValueError:  # different drives, or a mix of absolute and relative paths
        return None


def _traceback_frames(text: str | None) -> list[tuple[str, int, str]]:
    """Frames of a silk traceback, innermost first (silk stores ``traceback.format_stack()`` reversed)."""
    if not text:
        return []
    return [(f, int(line), fn.strip()) for f, line, fn in _FRAME.findall(text)]


def _site(frames: list[tuple[str, int, str]], paths: _Paths) -> tuple[dict[str, Any] | None, list[Any], Any]:
    """``site``, ``stack`` and ``via`` from frames, innermost first."""
    stack: list[dict[str, Any]] = []
    via: str | None = None
    first: int | None = None
    for n, (file, line, function) in enumerate(frames):
        if paths.project(file):
            if first is None:
                first = n
            stack.append({"file": paths.relative(file), "line": line, "function": function})
            if len(stack) >= _MAX_STACK:
                break
    if first is not None:
        for file, _line, _function in frames[:first]:
            m = _THIRD_PARTY.search(file)
            package = m.group(1).partition(".")[0] if m else None
            if package and package not in _PLUMBING:
                via = package  # the last one before the project frame is the outermost
    return (stack[0] if stack else None), stack, via


# Reading -----------------------------------------------------------------------------------------------


@dataclass
class _Request:
    silk_id: Any
    ts: float
    method: str
    path: str
    view: str | None
    end: float | None
    time_taken: float | None
    status: int | None = None
    db_n: int = 0
    db_ms: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)


def _read_requests(db: SilkDatabase) -> dict[Any, _Request]:
    requests: dict[Any, _Request] = {}
    columns = ("id", "path", "method", "start_time", "end_time", "view_name", "time_taken")
    for silk_id, path, method, start, end, view, taken in db.rows(
        _select(db, "silk_request", columns, order="start_time")
    ):
        ts = _epoch(start)
        if ts is None:
            continue
        requests[silk_id] = _Request(
            silk_id=silk_id,
            ts=ts,
            method=str(method or "GET").upper()[:16],
            path=str(path or "/"),
            view=str(view) if view else None,
            end=_epoch(end),
            time_taken=_num(taken),
        )
    return requests


def _read_statuses(db: SilkDatabase, requests: dict[Any, _Request]) -> None:
    for request_id, status in db.rows("SELECT request_id, status_code FROM silk_response"):
        request = requests.get(request_id)
        if request is not None and isinstance(status, int) and not isinstance(status, bool):
            request.status = status


def _read_sql_totals(db: SilkDatabase, requests: dict[Any, _Request]) -> None:
    total = "SUM(time_taken)" if db.has("silk_sqlquery", "time_taken") else "NULL"
    sql = (
        f"SELECT request_id, COUNT(*), {total} FROM silk_sqlquery WHERE request_id IS NOT NULL "
        "GROUP BY request_id"
    )
    for request_id, count, ms in db.rows(sql):
        request = requests.get(request_id)
        if request is not None:
            request.db_n = int(count)
            request.db_ms = _num(ms) or 0.0


def _duration(start: float | None, end: Any, taken: Any) -> float | None:
    ms = _num(taken)
    if ms is None and start is not None:
        stop = _epoch(end)
        ms = (stop - start) * 1000.0 if stop is not None else None
    return max(ms, 0.0) if ms is not None else None


@dataclass
class _RawCall:
    request: _Request
    start: float
    ms: float
    kind: str
    fields: dict[str, Any]
    frames: list[tuple[str, int, str]]


def _read_slow_sql(db: SilkDatabase, requests: dict[Any, _Request], slow_sql_ms: float) -> list[_RawCall]:
    calls: list[_RawCall] = []
    where = "request_id IS NOT NULL"
    if db.has("silk_sqlquery", "time_taken"):
        where += f" AND time_taken >= {float(slow_sql_ms)!r}"
    columns = ("request_id", "start_time", "end_time", "time_taken", "query", "traceback")
    for request_id, start, end, taken, query, traceback in db.rows(
        _select(db, "silk_sqlquery", columns, where)
    ):
        request = requests.get(request_id)
        begin = _epoch(start)
        ms = _duration(begin, end, taken)
        if request is None or begin is None or ms is None or ms < slow_sql_ms:
            continue
        # The statement as silk stored it holds the parameters: only its fingerprint is kept.
        fields = {"alias": "unknown", "sql": silk_sql_fingerprint(str(query or ""))}
        calls.append(_RawCall(request, begin, ms, "sql", fields, _traceback_frames(traceback)))
    return calls


def _block_name(name: str) -> str:
    """A silk_profile name with identifiers masked: silk's own docs name blocks ``'Check Permission #%d'``."""
    words = []
    for word in name.split():
        core = word.lstrip("#").rstrip(".,;:)")
        words.append(word.replace(core, "{id}") if core and is_identifier(core) else word)
    return " ".join(words)[:300]


def _read_profiles(db: SilkDatabase, requests: dict[Any, _Request], stats: ImportStats) -> list[_RawCall]:
    calls: list[_RawCall] = []
    columns = (
        "request_id",
        "start_time",
        "end_time",
        "time_taken",
        "name",
        "file_path",
        "line_num",
        "func_name",
        "exception_raised",
    )
    for request_id, start, end, taken, name, file, line, function, raised in db.rows(
        _select(db, "silk_profile", columns)
    ):
        request = requests.get(request_id) if request_id is not None else None
        begin = _epoch(start)
        ms = _duration(begin, end, taken)
        if request is None or begin is None or ms is None:
            stats.profiles_outside_requests += 1
            continue
        frames = [(str(file), int(line) if isinstance(line, int) else 0, str(function or ""))] if file else []
        fields = {"name": _block_name(str(name or function or "silk_profile")), "_error": bool(raised)}
        calls.append(_RawCall(request, begin, ms, "block", fields, frames))
    return calls


# Writing -----------------------------------------------------------------------------------------------


def _call_dict(raw: _RawCall, paths: _Paths) -> dict[str, Any]:
    t = round(max((raw.start - raw.request.ts) * 1000.0, 0.0), 3)
    fields = dict(raw.fields)
    error = "Exception" if fields.pop("_error", False) else None
    if raw.kind == "block":
        site: dict[str, Any] | None = None
        stack: list[Any] = []
        via = None
        if raw.frames:
            file, line, function = raw.frames[0]
            site = {"file": paths.relative(file), "line": line or None, "function": function or None}
            stack = [site]
    else:
        site, stack, via = _site(raw.frames, paths)
    call = {
        "kind": raw.kind,
        "lib": LIB,
        "via": via,
        "t": t,
        "ms": round(raw.ms, 3),
        "parent": None,
        "atomic": False,
        "site": site,
        "stack": stack,
        "error": error,
    }
    call.update(fields)
    return call


def _nest(calls: list[dict[str, Any]]) -> None:
    """``parent``: the innermost block whose time span holds the call (calls in start order)."""
    open_blocks: list[int] = []
    for index, call in enumerate(calls):
        start, end = call["t"], call["t"] + call["ms"]
        while open_blocks:
            block = calls[open_blocks[-1]]
            if (
                start >= block["t"] - _NESTING_SLACK_MS
                and end <= block["t"] + block["ms"] + _NESTING_SLACK_MS
            ):
                break
            open_blocks.pop()
        call["parent"] = open_blocks[-1] if open_blocks else None
        if call["kind"] == "block":
            open_blocks.append(index)


def _record(
    request: _Request, calls: list[dict[str, Any]], route: str | None, view: str | None
) -> dict[str, Any]:
    finished = request.end is not None and request.status is not None
    if finished:
        ms = request.time_taken
        if ms is None and request.end is not None:
            ms = (request.end - request.ts) * 1000.0
    else:
        # What silk saw of it: a lower bound (the analyzer takes status 0 as running into the budget).
        ms = max([c["t"] + c["ms"] for c in calls], default=0.0)
    dropped = max(len(calls) - MAX_CALLS_PER_REQUEST, 0)
    return {
        "v": 1,
        "id": _request_id(request.silk_id),
        "ts": round(request.ts, 6),
        "host": None,
        "pid": None,
        "proto": "silk",
        "method": request.method,
        "route": route,
        "view": view,
        "status": int(request.status) if finished and request.status is not None else 0,
        "ms": round(max(ms or 0.0, 0.0), 3),
        "cpu_ms": None,
        "db": {"n": int(request.db_n), "ms": round(request.db_ms, 3)},
        "dropped": dropped,
        "unsampled": 0,
        "lost": {"queue": 0, "write": 0},
        "calls": calls[:MAX_CALLS_PER_REQUEST],
    }


def _route(request: _Request, resolver: Resolver | None, stats: ImportStats) -> tuple[str | None, str | None]:
    if resolver is not None:
        resolved = resolver(request.path)
        if resolved is not None:
            stats.routes_resolved += 1
            route, view = resolved
            return route, view or request.view
    stats.routes_masked += 1
    return mask_path(request.path), request.view


def write_records(
    db: SilkDatabase,
    out: IO[str],
    stats: ImportStats,
    *,
    slow_sql_ms: float = DEFAULT_SLOW_SQL_MS,
    project_roots: Sequence[str | tuple[str, str]] = (),
    resolver: Resolver | None = None,
) -> None:
    """Read silk's tables from ``db`` and write one record per silk request to ``out``."""
    requests = _read_requests(db)
    if not requests:
        raise InputError(f"{db.name}: silk recorded no requests here")
    _read_statuses(db, requests)
    _read_sql_totals(db, requests)
    raw = _read_slow_sql(db, requests, slow_sql_ms) + _read_profiles(db, requests, stats)
    files = [f for c in raw for f, _line, _fn in c.frames]
    paths = _Paths(project_roots)
    if not paths.roots or not any(paths.project(f) for f in files):
        # No root given, or the given ones are this machine's and silk ran elsewhere: guess from silk's paths.
        guessed = _guess_root(files)
        paths = _Paths([guessed] if guessed else [])
    stats.project_root = paths.roots[0][1] if paths.roots else None
    # Blocks first at equal start times, longer first: a block opens before what it holds.
    raw.sort(key=lambda c: (c.start, c.kind != "block", -c.ms))
    for call in raw:
        call.request.calls.append(_call_dict(call, paths))
        if call.kind == "sql":
            stats.sql_calls += 1
        else:
            stats.blocks += 1
    order = sorted(requests.values(), key=lambda r: (r.ts, str(r.silk_id)))
    for request in order:
        request.calls.sort(key=lambda c: (c["t"], c["kind"] != "block", -c["ms"]))
        _nest(request.calls)
        route, view = _route(request, resolver, stats)
        record = _record(request, request.calls, route, view)
        if record["status"] == 0:
            stats.unfinished += 1
        stats.calls_dropped += record["dropped"]
        stats.requests += 1
        out.write(json.dumps(record, separators=(",", ":"), allow_nan=False))
        out.write("\n")
    if stats.routes_masked and resolver is None:
        stats.notes.append(
            "silk keeps no URL pattern: routes are the request paths with identifiers masked; import with "
            "--settings (or inside the site) to resolve them through the site's URLconf"
        )
