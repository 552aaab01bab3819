"""What the outbound-HTTP hooks share: the ``http`` call's fields, shaped alike for every client library.

Every ``http`` call carries ``method`` (str), ``host`` (str, never credentials), ``port`` (int or null),
``path`` (identifiers masked, no query), ``status`` (int or null) and ``timeout`` (float seconds or null: the
bound on the wait for the response; null means the call can hold a worker until the platform kills it).
"""

from __future__ import annotations

import math
import socket
from typing import Any

from async_audit.record.privacy import clean_host, mask_path
from async_audit.record.trace import Call, start_call

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def seconds(value: Any) -> float | None:
    """A timeout as float seconds; None for no timeout.

    Anything that is neither a number nor None is a library's "use the default" sentinel
    (``socket._GLOBAL_DEFAULT_TIMEOUT``, urllib3's ``_DEFAULT_TIMEOUT``): the process-wide socket default
    applies.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        default = socket.getdefaulttimeout()
        if default is None:
            return None
        number = float(default)
    # Infinity is no bound at all, and would not survive as JSON.
    return number if math.isfinite(number) and number >= 0 else None


def port_number(port: Any, scheme: str | None = None) -> int | None:
    """The port as an int; the scheme's default when none is given; None when unknown."""
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    return DEFAULT_PORTS.get((scheme or "").lower())


# Masking a path runs a handful of regular expressions per segment; the same paths recur (the same endpoints,
# the same customer over a session), so results are cached. Keyed by the hash of the raw path, never the path
# itself: the cache must not keep identifiers or email addresses alive in memory. A hash collision could only
# swap one masked path for another, and both are already free of identifiers.
_masked: dict[int, str] = {}
_MASKED_MAX = 4096
_hosts: dict[str, str] = {}
_HOSTS_MAX = 1024


def masked_path(path: str) -> str:
    """``mask_path(path)``, cached."""
    key = hash(path)
    masked = _masked.get(key)
    if masked is None:
        masked = mask_path(path)
        if len(_masked) >= _MASKED_MAX:
            _masked.clear()
        _masked[key] = masked
    return masked


def cleaned_host(host: str) -> str:
    """``clean_host(host)``, cached for hosts that carry no credentials."""
    cleaned = _hosts.get(host)
    if cleaned is None:
        cleaned = clean_host(host)
        if "@" not in host:
            if len(_hosts) >= _HOSTS_MAX:
                _hosts.clear()
            _hosts[host] = cleaned
    return cleaned


def begin_http(
    lib: str,
    method: Any,
    host: Any,
    port: Any,
    path: Any,
    timeout: float | None = None,
    scheme: str | None = None,
    depth: int = 2,
    hold: bool = True,
) -> Call | None:
    """Start an ``http`` call with every field shaped (see the module docstring); None when not recording.

    ``method`` and ``path`` are empty strings when the call failed before its request line was known (a
    connection opened ahead of its request and refused). ``depth``: the frame above this function's caller
    where the call-site walk starts (the hook's own frames need no walking); ``hold``: see ``begin_call``.
    """
    # The cache lookups are inlined: this runs for every recorded call, where each function call counts.
    host = host if type(host) is str else str(host or "")
    cleaned = _hosts.get(host)
    if cleaned is None:
        cleaned = cleaned_host(host)
    if path:
        path = path if type(path) is str else str(path)
        masked = _masked.get(hash(path))
        if masked is None:
            masked = masked_path(path)
    else:
        masked = ""
    fields = (
        "method",
        method.upper() if type(method) is str else str(method or "").upper(),
        "host",
        cleaned,
        "port",
        port if type(port) is int else port_number(port, scheme),
        "path",
        masked,
        "status",
        None,
        "timeout",
        timeout,
    )
    return start_call("http", lib, depth, hold, False, fields)


def status_code(value: Any) -> int | None:
    """A response status as an int, or None."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
