"""Per-request state and the API every hook records through.

The current request's :class:`Trace` lives in a ``ContextVar``, so it follows the request across
``sync_to_async``, ``async_to_sync``, ``asyncio.to_thread`` and tasks it spawns, and is invisible to
everything else. A hook does::

    call = begin_call("http", "httpx")
    if call is None:                      # not recording: the original runs untouched
        return original(*args, **kwargs)
    try:
        response = original(*args, **kwargs)
    except BaseException as exc:
        call.fail(exc)
        raise
    call.finish(status=response.status_code)
    return response

``begin_call``, ``Call.set``, ``Call.fail`` and ``Call.finish`` never raise.
"""

from __future__ import annotations

import sys
import threading
import time
from contextvars import ContextVar, Token
from typing import Any

from async_audit.record.frames import call_site
from async_audit.record.guard import guarded

current_trace: ContextVar[Trace | None] = ContextVar("async_audit_trace", default=None)
# Index of the innermost call still running in this context: the parent of the next call.
_open_call: ContextVar[int | None] = ContextVar("async_audit_open_call", default=None)


class Trace:
    """Everything recorded about one request while it runs."""

    __slots__ = (
        "id",
        "ts",
        "start_ns",
        "cpu_start_ns",
        "calls",
        "dropped",
        "max_calls",
        "db_n",
        "db_ns",
        "slow_sql_ns",
        "closed",
        "proto",
        "conns",
    )

    def __init__(self, request_id: str, max_calls: int, slow_sql_ms: float, proto: str) -> None:
        self.id = request_id
        self.ts = time.time()
        self.start_ns = time.perf_counter_ns()
        self.cpu_start_ns: int | None = None
        self.calls: list[dict[str, Any]] = []
        self.dropped = 0
        self.max_calls = max_calls
        self.db_n = 0
        self.db_ns = 0
        self.slow_sql_ns = int(slow_sql_ms * 1_000_000)
        self.closed = False
        self.proto = proto
        self.conns: dict[int, tuple[Any, ...]] = {}  # thread id -> that thread's DB connection objects

    def close(self) -> list[dict[str, Any]]:
        """Stop recording; calls still running (a thread the view left behind) are cut off here."""
        self.closed = True
        now = time.perf_counter_ns()
        for call in self.calls:
            if call["ms"] is None:
                call["ms"] = round((now - self.start_ns) / 1e6 - call["t"], 3)
                call["error"] = call["error"] or "Unfinished"
        return list(self.calls)


class Call:
    """A call being recorded; obtained from :func:`begin_call`."""

    __slots__ = ("trace", "data", "start_ns", "token", "parent")

    def __init__(
        self,
        trace: Trace,
        data: dict[str, Any],
        start_ns: int,
        token: Token[int | None] | None,
        parent: int | None,
    ) -> None:
        self.trace = trace
        self.data = data
        self.start_ns = start_ns
        self.token = token
        self.parent = parent

    def set(self, **fields: Any) -> None:
        """Add kind-specific fields (``method``, ``host``...)."""
        self.data.update(fields)

    def fail(self, exc: BaseException, **fields: Any) -> None:
        """End the call as failed with ``exc`` (its class name is recorded, never its message)."""
        self.finish(error=type(exc).__name__, **fields)

    def finish(self, **fields: Any) -> None:
        """End the call now; ``fields`` are added to it."""
        end = time.perf_counter_ns()
        with guarded():
            self._release()
            if self.trace.closed:
                return
            data = self.data
            if fields:
                data.update(fields)
            data["ms"] = round((end - self.start_ns) / 1e6, 3)

    def _release(self) -> None:
        token = self.token
        if token is None:
            return
        self.token = None
        try:
            _open_call.reset(token)
        except ValueError:
            # Finished in another context than it began (a callback, a generator resumed elsewhere).
            _open_call.set(self.parent)


def begin_call(
    kind: str, lib: str, *, nest_same_kind: bool = False, depth: int = 1, **fields: Any
) -> Call | None:
    """Start recording a call of ``kind`` made through ``lib`` in the current request.

    Returns None when nothing is recording, when the request's call cap is reached (counted in
    ``dropped``), or when the innermost running call is of the same kind and ``nest_same_kind`` is false: a
    client layered over another instrumented client must not count one request twice.
    ``depth`` frames above the caller are where the stack walk starts.
    """
    trace = current_trace.get()
    if trace is None or trace.closed:
        return None
    start = time.perf_counter_ns()
    with guarded():
        parent = _open_call.get()
        calls = trace.calls
        if parent is not None and not nest_same_kind and calls[parent]["kind"] == kind:
            return None
        if len(calls) >= trace.max_calls:
            trace.dropped += 1
            return None
        site, stack, via = call_site(sys._getframe(depth))
        data: dict[str, Any] = {
            "kind": kind,
            "lib": lib,
            "via": via,
            "t": round((start - trace.start_ns) / 1e6, 3),
            "ms": None,
            "parent": parent,
            "atomic": in_atomic_block(trace),
            "site": site,
            "stack": stack,
            "error": None,
        }
        if fields:
            data.update(fields)
        index = len(calls)
        calls.append(data)
        token = _open_call.set(index)
        # The stack walk is the recorder's cost, not the call's: the clock starts after it.
        return Call(trace, data, time.perf_counter_ns(), token, parent)
    return None


def add_finished_call(
    kind: str, lib: str, start_ns: int, end_ns: int, *, depth: int = 1, **fields: Any
) -> None:
    """Record a call that is already over (a statement known to be slow only once it returned)."""
    trace = current_trace.get()
    if trace is None or trace.closed:
        return
    with guarded():
        calls = trace.calls
        if len(calls) >= trace.max_calls:
            trace.dropped += 1
            return
        site, stack, via = call_site(sys._getframe(depth))
        data: dict[str, Any] = {
            "kind": kind,
            "lib": lib,
            "via": via,
            "t": round((start_ns - trace.start_ns) / 1e6, 3),
            "ms": round((end_ns - start_ns) / 1e6, 3),
            "parent": _open_call.get(),
            "atomic": in_atomic_block(trace),
            "site": site,
            "stack": stack,
            "error": None,
        }
        data.update(fields)
        calls.append(data)


def in_atomic_block(trace: Trace | None = None) -> bool:
    """True inside ``transaction.atomic()`` on any database connection of this thread.

    Looking connections up through Django's thread-critical ``Local`` costs microseconds per call, so a
    trace keeps this thread's connection objects (Django keeps one per alias and thread; closing a
    connection keeps the object).
    """
    from django.db import connections

    if trace is None:
        return any(getattr(connections[alias], "in_atomic_block", False) for alias in connections)
    ident = threading.get_ident()
    conns = trace.conns.get(ident)
    if conns is None:
        conns = trace.conns[ident] = tuple(connections[alias] for alias in connections)
    for conn in conns:
        if conn.in_atomic_block:
            return True
    return False
