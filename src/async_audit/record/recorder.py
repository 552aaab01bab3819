"""Start and finish a request's trace; hand finished records to the sink (or to test captures)."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from typing import Any

from async_audit.conf import get_config
from async_audit.record.guard import guarded
from async_audit.record.sink import get_sink
from async_audit.record.trace import Trace

FORMAT_VERSION = 1

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
    trace = Trace(f"{random.getrandbits(64):016x}", config.max_calls_per_request, config.slow_sql_ms, proto)
    if proto == "wsgi":
        trace.cpu_start_ns = time.thread_time_ns()
    return trace, sampled


def finish_trace(trace: Trace, sampled: bool, request: Any, status: int) -> None:
    """Close ``trace`` and emit its record (or count it as sampled out).

    If the recorder itself fails here, the record is counted as a lost write (so the report still says
    something is missing) and the error goes on to the caller's guard, which logs it.
    """
    # One function on purpose: it runs on every request, and each Python call costs as much as a line here.
    end = time.perf_counter_ns()
    try:
        cpu_start = trace.cpu_start_ns
        cpu_end = time.thread_time_ns() if cpu_start is not None else None
        calls = trace.close()
        ms = (end - trace.start_ns) / 1e6
        if not sampled:
            threshold = get_config().always_record_slower_than_ms
            if threshold is None or ms < threshold:
                _count_unsampled()
                return
        match = getattr(request, "resolver_match", None)
        # The pattern as written ("" for the site's root, "^legacy/(?P<slug>[-\\w]+)/$" for re_path), not
        # the path.
        route = None if match is None else getattr(match, "route", None)
        record: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "id": trace.id,
            "ts": round(trace.ts, 6),
            "host": _host,
            "pid": _pid,
            "proto": trace.proto,
            "method": str(request.method or "GET"),
            "route": None if route is None else str(route),
            "view": None if match is None else getattr(match, "_func_path", None),
            "status": int(status),
            "ms": round(ms, 3),
            "cpu_ms": None if cpu_end is None else round((cpu_end - (cpu_start or 0)) / 1e6, 3),
            "db": {"n": trace.db_n, "ms": round(trace.db_ns / 1e6, 3)},
            "dropped": trace.dropped,
            "unsampled": 0,
            "lost": {"queue": 0, "write": 0},
            "calls": calls,
        }
    except Exception:
        _count_lost()
        raise
    emit(record)


def emit(record: dict[str, Any]) -> None:
    """Hand a finished record to the test captures if any are open, else to the process's sink."""
    if _captures:
        with _captures_lock:
            for capture in _captures:
                capture.append(record)
        return
    with guarded():
        try:
            get_sink().put(record)
        except Exception:
            _count_lost()
            raise


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
