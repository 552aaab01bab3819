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
from async_audit.record.trace import Call, begin_call

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


def begin_http(
    lib: str,
    method: Any,
    host: Any,
    port: Any,
    path: Any,
    timeout: float | None = None,
    *,
    scheme: str | None = None,
) -> Call | None:
    """Start an ``http`` call with every field shaped (see the module docstring); None when not recording.

    ``method`` and ``path`` are empty strings when the call failed before its request line was known (a
    connection opened ahead of its request and refused).
    """
    return begin_call(
        "http",
        lib,
        depth=2,
        method=str(method or "").upper(),
        host=clean_host(str(host) if host else None),
        port=port_number(port, scheme),
        path=mask_path(str(path)) if path else "",
        status=None,
        timeout=timeout,
    )


def status_code(value: Any) -> int | None:
    """A response status as an int, or None."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
