"""Start and finish a request's trace; hand finished records to the sink (or to test captures)."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from typing import Any

from async_audit.conf import get_config
from async_audit.record.guard import guarded, report_internal_error
from async_audit.record.sink import Packable, build_record, get_sink
from async_audit.record.trace import Trace

_host = socket.gethostname()
_pid = os.getpid()
_captures: list[list[dict[str, Any]]] = []
_captures_lock = threading.Lock()


def _refresh_pid() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_refresh_pid)


def start_trace(method: str, path: str, proto: str) -> tuple[Trace | None, bool]:
    """A new trace for a request, or None when this request is not recorded; and whether it was sampled."""
    config = get_config()
    if not config.enabled or config.ignores(path):
        return None, False
    sampled = config.sample_rate >= 1.0 or random.random() < config.sample_rate
    if not sampled and config.always_record_slower_than_ms is None:
        _count_unsampled()
        return None, False
    trace = Trace(None, config.max_calls_per_request, config.slow_sql_ms, proto)
    if proto == "wsgi":
        trace.cpu_start_ns = time.thread_time_ns()
    return trace, sampled


def finish_trace(trace: Trace, sampled: bool, request: Any, status: int) -> None:
    """Close ``trace`` and hand it to the sink (or count it as sampled out).

    Only what the request object holds is read here; the trace goes to the sink packed into a tuple of plain
    values (:meth:`Trace.packed`), and the record is built from it on the writer thread. If the recorder
    itself fails here, the record is counted as a lost write (so the report still says something is
    missing) and the error goes on to the caller's guard, which logs it.
    """
    # One function on purpose: it runs on every request, and each Python call costs as much as a line here.
    end = time.perf_counter_ns()
    try:
        trace.cpu_end_ns = time.thread_time_ns() if trace.cpu_start_ns is not None else None
        trace.close(end)
        if not sampled:
            threshold = get_config().always_record_slower_than_ms
            if threshold is None or (end - trace.start_ns) / 1e6 < threshold:
                _count_unsampled()
                return
        match = getattr(request, "resolver_match", None)
        if match is not None:
            # The pattern as written ("" for the site's root, "^legacy/(?P<slug>[-\\w]+)/$" for re_path),
            # not the path.
            route = getattr(match, "route", None)
            trace.route = None if route is None else str(route)
            trace.view = getattr(match, "_func_path", None)
        else:
            trace.route = trace.view = None
        trace.host = _host
        trace.pid = _pid
        trace.method = str(request.method or "GET")
        trace.status = int(status)
        packed = trace.packed()
    except Exception:
        _count_lost()
        raise
    emit(packed)


def emit(record: Packable) -> None:
    """Hand a finished record (a dict or a packed tuple) to the test captures if any are open, else to the
    process's sink."""
    if _captures:
        built = build_record(record)
        with _captures_lock:
            for capture in _captures:
                capture.append(built)
        return
    try:
        get_sink().put(record)
    except Exception as exc:  # the recorder's own: counted, reported, never raised into the site
        _count_lost()
        report_internal_error(exc)


def _count_lost() -> None:
    if _captures:
        return
    with guarded():
        get_sink().count_lost()


def _count_unsampled() -> None:
    if _captures:
        return
    with guarded():
        get_sink().count_unsampled()


def add_capture(target: list[dict[str, Any]]) -> None:
    with _captures_lock:
        _captures.append(target)


def remove_capture(target: list[dict[str, Any]]) -> None:
    with _captures_lock:
        if any(c is target for c in _captures):
            _captures[:] = [c for c in _captures if c is not target]
