"""Guard the recorder's own work, never the site's.

``with guarded():`` swallows and logs any exception raised by instrumentation code, so a bug in async-audit
can never turn into an error page. The site's own calls run *outside* the guard, so their exceptions
propagate unchanged. Tests register a listener with :func:`on_internal_error` and fail on anything swallowed
(sentry-python's ``capture_internal_exceptions`` and its autouse re-raising fixture).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

logger = logging.getLogger("async_audit")

_listeners: list[Callable[[BaseException], None]] = []
_lock = threading.Lock()
_swallowed = 0


def on_internal_error(listener: Callable[[BaseException], None]) -> Callable[[], None]:
    """Call ``listener`` with every swallowed internal error; returns a function that removes it."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def swallowed_count() -> int:
    """How many internal errors this process has swallowed so far."""
    return _swallowed


def report_internal_error(exc: BaseException) -> None:
    global _swallowed
    _swallowed += 1
    # Log the first few with a traceback, then only every thousandth: a broken hook on a busy site must not
    # flood its logs.
    if _swallowed <= 5 or _swallowed % 1000 == 0:
        logger.warning(
            "async-audit internal error #%d (the request was not affected)", _swallowed, exc_info=exc
        )
    for listener in list(_listeners):
        try:
            listener(exc)
        except Exception:  # noqa: BLE001 - a listener must not break the guard either
            pass


class guarded:  # noqa: N801 - used like a function: ``with guarded():``
    """Context manager that swallows (and reports) exceptions of the recorder's own code."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None:
            return False
        if not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, SystemExit, GeneratorExit: not ours to swallow
        report_internal_error(exc)
        return True
