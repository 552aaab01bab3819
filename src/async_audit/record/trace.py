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

The request thread keeps raw figures only (clock readings in nanoseconds, the call site's frames and the
fields as flat tuples) and hands the sink the trace packed into tuples (:meth:`Trace.packed`); the record's
JSON line is written from them by :func:`encode_request`, on the sink's writer thread, after the response has
gone.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from itertools import chain
from json.encoder import encode_basestring as _string  # C: a JSON string, non-ASCII as is
from operator import attrgetter
from typing import Any

from django.db import connections

from async_audit.record import frames as frames_module
from async_audit.record.frames import call_site_at
from async_audit.record.guard import report_internal_error
from async_audit.record.sink import PackedEncoder, encode_json, register_encoder

FORMAT_VERSION = 1

current_trace: ContextVar[Trace | None] = ContextVar("async_audit_trace", default=None)
# Index of the innermost call still running in this context: the parent of the next call.
_open_call: ContextVar[int | None] = ContextVar("async_audit_open_call", default=None)


class Trace:
    """Everything recorded about one request: filled while it runs, turned into its record afterwards."""

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
        "http",
        # Set when the request ends (by ``close`` and ``recorder.finish_trace``).
        "end_ns",
        "cpu_end_ns",
        "n_calls",
        "host",
        "pid",
        "method",
        "route",
        "view",
        "status",
    )

    def __init__(self, request_id: str | None, max_calls: int, slow_sql_ms: float, proto: str) -> None:
        # None: drawn when the record is built, off the request thread.
        self.id = request_id
        self.ts = time.time_ns()  # wall clock, for the record's ts (microseconds, in encode_request)
        self.start_ns = time.perf_counter_ns()
        self.cpu_start_ns: int | None = None
        self.calls: list[Call] = []
        self.dropped = 0
        self.max_calls = max_calls
        self.db_n = 0
        self.db_ns = 0
        self.slow_sql_ns = int(slow_sql_ms * 1_000_000)
        self.closed = False
        self.proto = proto
        # The http.client hook's requests in flight, by id() of their connection (made on the first).
        self.http: dict[int, Any] | None = None
        # Not set here, to keep the request's own cost down: end_ns and n_calls (close), cpu_end_ns, host,
        # pid, method, route, view and status (recorder.finish_trace).
        self.end_ns: int
        self.n_calls: int
        self.cpu_end_ns: int | None
        self.host: str
        self.pid: int | None
        self.method: str
        self.route: str | None
        self.view: str | None
        self.status: int

    def close(self, end_ns: int) -> None:
        """Stop recording at ``end_ns``; calls still running then (a thread the view left behind) are cut
        off there, and calls begun later are not part of the record."""
        self.end_ns = end_ns
        self.closed = True
        self.n_calls = len(self.calls)
        self.http = None

    def packed(self) -> tuple[Any, ...]:
        """The closed trace as one tuple of plain values, for the sink (see ``sink.register_encoder``); once.

        Tuples of plain values are let go by the cycle collector, one level of nesting per pass (it visits a
        tuple before what the tuple holds): the frames and fields at the first pass, the calls at the next,
        so at most the outer tuple is ever promoted to the oldest generation while it waits for the writer.
        The trace lets go of its calls, which point back at it, so the request's objects go with their last
        reference instead of waiting for the collector.
        """
        calls = self.calls[: self.n_calls]
        self.calls = []
        # Attribute getters and concatenation run in C; each call a tuple of its figures, its frames and its
        # fields (both flat tuples).
        return _REQUEST + _trace_figures(self) + tuple(map(_call_figures, calls))


_REQUEST = ("request",)
_trace_figures = attrgetter(
    "id",
    "ts",
    "start_ns",
    "end_ns",
    "cpu_start_ns",
    "cpu_end_ns",
    "host",
    "pid",
    "proto",
    "method",
    "route",
    "view",
    "status",
    "db_n",
    "db_ns",
    "dropped",
)


def encode_request(packed: tuple[Any, ...], counts: tuple[int, int, int] = (0, 0, 0)) -> str:
    """A request's record, as its JSON line (without the newline), from :meth:`Trace.packed`; on the sink's
    writer thread. ``counts`` are the losses (queue, write) and the unsampled requests the line carries.

    Written straight from the packed figures, with the C string encoder of ``json``: building the record's
    dicts and then encoding them took two to three times the instructions, and this is the writer's work
    for every request. :func:`async_audit.record.sink.build_record` reads the line back for those who want
    the dict (test captures), so the record has one definition: this one.
    """
    (_, request_id, ts_ns, start, end, cpu_start, cpu_end, host, pid, proto) = packed[:10]
    (method, route, view, status, db_n, db_ns, dropped) = packed[10:17]
    # Drawn here when the request did not bring its own: sixteen hex digits need no escaping (hex() of a
    # 65-bit number, its leading "0x1" cut: a format spec costs twice as much).
    id_json = f'"{hex(random.getrandbits(64) | _BIT_64)[3:]}"' if request_id is None else _string(request_id)
    # Seconds to the microsecond, and milliseconds to three decimals, from integers and a table of the
    # thousand three-digit groups: formatting a float or an int with a format spec costs two to three thousand
    # instructions each (counted under valgrind), a plain int and a table lookup a few hundred.
    seconds, micros = divmod(ts_ns // 1000, 1_000_000)
    cpu = "null" if cpu_start is None or cpu_end is None else _millis(cpu_end - cpu_start)
    calls = ",".join([_encode_call(call, start, end) for call in packed[17:]])
    # What recurs is memoised: from "host" to "status" (one process, its routes, their statuses), and the
    # counters, almost always zero. The counters, the pid and the status are ints of ours.
    where = _requests[host, pid, proto, method, route, view, status]
    db = _NO_QUERIES if db_n == 0 and db_ns == 0 else f'{{"n":{db_n},"ms":{_millis(db_ns)}}}'
    return (
        f'{_VERSION}{id_json},"ts":{seconds}.{_THREE[micros // 1000]}{_THREE[micros % 1000]},{where}'
        f'"ms":{_millis(end - start)},"cpu_ms":{cpu},"db":{db},{_counters[dropped, counts]}{calls}]}}'
    )


_BIT_64 = 1 << 64
_THREE = [f"{i:03d}" for i in range(1000)]


def _millis(ns: int) -> str:
    """Nanoseconds as milliseconds to three decimals, half a microsecond rounded away from zero."""
    if ns >= 0:
        micros = (ns + 500) // 1000
        return f"{micros // 1000}.{_THREE[micros % 1000]}"
    return f"-{_millis(-ns)}"


def _encode_call(call: tuple[Any, ...], request_start: int, close_ns: int) -> str:
    """A call as its request's record holds it; ``close_ns`` ends a call still running."""
    kind, lib, via, t_ns, start, end, parent, atomic, frames, error, fields = call
    if end is None:
        ms = _millis(close_ns - request_start - t_ns)
        error = error or "Unfinished"
    else:
        ms = _millis(end - start)
    # Everything but the two timings recurs: the same call, from the same line, request after request. Keyed
    # by value: True == 1 == 1.0, so this counts on each field of a kind holding values of one type or None,
    # as the hooks make them (the http timeout, which a site gives as an int or a float, is always a float:
    # tests/record/hooks/test_http_client.py). An unhashable value is encoded afresh.
    key = (kind, lib, via, parent, atomic, frames, error, fields)
    try:
        head, tail = _calls[key]
    except TypeError:
        head, tail = _call_parts(key)
    return f'{head}"t":{_millis(t_ns)},"ms":{ms},{tail}'


def _call_parts(key: tuple[Any, ...]) -> tuple[str, str]:
    """A call's JSON around its timings: what comes before ``"t"``, and what comes after ``"ms"``."""
    kind, lib, via, parent, atomic, frames, error, fields = key
    site, stack = _stacks[frames] if frames else ("null", "")
    extra = ""
    for i in range(0, len(fields), 2):
        value = fields[i + 1]
        extra += f",{_strings[fields[i]]}:{_strings[value] if type(value) is str else _value(value)}"
    via_json = "null" if via is None else _strings[via]
    head = f'{{"kind":{_strings[kind]},"lib":{_strings[lib]},"via":{via_json},'
    tail = (
        f'"parent":{"null" if parent is None else parent},'
        f'"atomic":{"true" if atomic else "false"},"site":{site},"stack":[{stack}],'
        f'"error":{"null" if error is None else _string(error)}{extra}}}'
    )
    return head, tail


_VERSION = f'{{"v":{FORMAT_VERSION},"id":'
_NO_QUERIES = '{"n":0,"ms":0.000}'


def _counter_parts(key: tuple[int, tuple[int, int, int]]) -> str:
    """A request's JSON from ``"dropped"`` to the opening of ``"calls"``."""
    dropped, (queue, write, unsampled) = key
    return f'"dropped":{dropped},"unsampled":{unsampled},"lost":{{"queue":{queue},"write":{write}}},"calls":['


def _request_parts(key: tuple[Any, ...]) -> str:
    """A request's JSON from ``"host"`` to ``"status"``, with the comma after it."""
    host, pid, proto, method, route, view, status = key
    return (
        f'"host":{_strings[host]},"pid":{pid},"proto":{_strings[proto]},"method":{_strings[method]},'
        f'"route":{"null" if route is None else _strings[route]},'
        f'"view":{"null" if view is None else _strings[view]},"status":{status},'
    )


class _Memo(dict[Any, Any]):
    """JSON text by value, made on first use: the same call sites, field names, hosts and routes come back
    request after request, and a hit costs a tenth of encoding again. Emptied when full, so values a site
    sends only once cannot grow it without bound. Only the writer thread (and test captures) use these."""

    def __init__(self, encode: Callable[[Any], Any], size: int = 4096) -> None:
        super().__init__()
        self.encode = encode
        self.size = size

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.size:
            self.clear()
        made = self[key] = self.encode(key)
        return made


def _stack_json(frames: tuple[Any, ...]) -> tuple[str, str]:
    """A call's frames (flat: file, line, function, ...) as the record's ``site`` and ``stack`` items."""
    items = []
    for i in range(0, len(frames), 3):
        file, line, function = frames[i : i + 3]
        line_json = "null" if line is None else line
        items.append(f'{{"file":{_string(file)},"line":{line_json},"function":{_string(function)}}}')
    return items[0], ",".join(items)


_strings = _Memo(_string)
_stacks = _Memo(_stack_json)
_calls = _Memo(_call_parts)
_requests = _Memo(_request_parts)
_counters = _Memo(_counter_parts)


def _value(value: Any) -> str:
    """A field's value other than a string in JSON, as ``json`` writes it (anything unusual through its
    encoder); strings go through ``_strings``."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is int:
        return repr(value)
    if kind is float:
        return repr(value) if value - value == 0 else encode_json(value)  # NaN and infinities as json does
    if kind is bool:
        return "true" if value else "false"
    return encode_json(value)


def _fast_encoder() -> PackedEncoder:
    """``encode_request`` as the writer calls it: in C (``_callsite.c``, the same line from the same memos,
    which hands back to this function anything it does not expect) where the C walk is in use, else this."""
    if frames_module.call_site_at is frames_module._python_call_site_at:
        return encode_request
    try:
        from async_audit.record import _callsite

        _callsite.configure_encoder(
            _VERSION,
            _NO_QUERIES,
            _requests,
            _counters,
            _calls,
            _call_parts,
            _string,
            random.getrandbits,
            encode_request,
        )
    except Exception as error:  # a module built from other sources: Python, never a broken import
        report_internal_error(error)
        return encode_request
    return _callsite.encode_request


register_encoder("request", _fast_encoder())


class Call:
    """A call being recorded; obtained from :func:`begin_call`."""

    __slots__ = (
        "trace",
        "kind",
        "lib",
        "via",
        "t_ns",
        "start_ns",
        "end_ns",
        "parent",
        "atomic",
        "frames",
        "error",
        "fields",
        "token",
    )

    def __init__(
        self,
        trace: Trace,
        kind: str,
        lib: str,
        via: str | None,
        parent: int | None,
        atomic: bool,
        frames: tuple[Any, ...],
        fields: tuple[Any, ...],
        token: Token[int | None] | None,
    ) -> None:
        self.trace = trace
        self.kind = kind
        self.lib = lib
        self.via = via
        self.parent = parent
        self.atomic = atomic
        self.frames = frames
        self.fields = fields
        self.token = token
        self.error: str | None = None
        self.end_ns: int | None = None
        # The clock starts last: the stack walk is the recorder's cost, not the call's.
        self.start_ns = start = time.perf_counter_ns()
        self.t_ns = start - trace.start_ns  # from the request's start

    def set(self, **fields: Any) -> None:
        """Add kind-specific fields (``method``, ``host``...); ``error`` sets the call's error.

        A call keeps its fields as one flat tuple of names and values (later ones win): unlike a dict, it
        lets the packed trace go untracked by the cycle collector (see :meth:`Trace.packed`).
        """
        if self.trace.closed:
            return  # the record may be being built on the writer thread
        if "error" in fields:
            self.error = fields.pop("error")
        self.fields += _flat(fields)

    def fail(self, exc: BaseException, **fields: Any) -> None:
        """End the call as failed with ``exc`` (its class name is recorded, never its message)."""
        self.error = type(exc).__name__
        self.finish(**fields)

    def finish(self, **fields: Any) -> None:
        """End the call now; ``fields`` are added to it."""
        end = time.perf_counter_ns()
        try:
            self._release()
            if self.trace.closed:
                return
            if fields:
                if "error" in fields:
                    self.error = fields.pop("error")
                self.fields += _flat(fields)
            self.end_ns = end
        except Exception as exc:  # the recorder's own: reported, never raised into the site
            report_internal_error(exc)

    def end(self, fields: tuple[Any, ...] | None, error: str | None = None) -> None:
        """:meth:`finish` (or :meth:`fail`, given the error's class name) with the fields as a flat tuple of
        names and values: the hooks' fast path."""
        end = time.perf_counter_ns()
        try:
            if self.token is not None:
                self._release()
            if self.trace.closed:
                return
            if fields:
                self.fields += fields
            if error is not None:
                self.error = error
            self.end_ns = end
        except Exception as exc:  # the recorder's own: reported, never raised into the site
            report_internal_error(exc)

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


_call_figures = attrgetter(
    "kind", "lib", "via", "t_ns", "start_ns", "end_ns", "parent", "atomic", "frames", "error", "fields"
)


def _flat(fields: dict[str, Any]) -> tuple[Any, ...]:
    """A call's fields as it keeps them: names and values in one flat tuple."""
    return tuple(chain.from_iterable(fields.items()))


def begin_call(
    kind: str, lib: str, *, nest_same_kind: bool = False, depth: int = 1, **fields: Any
) -> Call | None:
    """Start recording a call of ``kind`` made through ``lib`` in the current request.

    Returns None when nothing is recording, when the request's call cap is reached (counted in
    ``dropped``), or when the innermost running call is of the same kind and ``nest_same_kind`` is false: a
    client layered over another instrumented client must not count one request twice.
    ``depth`` frames above the caller are where the stack walk starts.
    """
    return start_call(kind, lib, depth + 1, True, nest_same_kind, fields)


def start_call(
    kind: str,
    lib: str,
    depth: int,
    hold: bool,
    nest_same_kind: bool,
    fields: tuple[Any, ...] | dict[str, Any],
) -> Call | None:
    """:func:`begin_call` with every argument positional and the fields as a flat tuple of names and values
    (or a dict, flattened only for a call that is recorded): the hooks' fast path (a call with keyword
    arguments costs several times one without). ``hold``: the call becomes the innermost open call (the
    parent of calls begun before it finishes); false for a call whose phases are separate method calls
    (it might never be finished)."""
    trace = current_trace.get()
    if trace is None or trace.closed:
        return None
    try:
        parent = _open_call.get()
        calls = trace.calls
        if parent is not None and not nest_same_kind and calls[parent].kind == kind:
            return None
        if len(calls) >= trace.max_calls:
            trace.dropped += 1
            return None
        # Flat (file, line, function, file, ...): one tuple less to nest in the packed trace.
        frames, via = call_site_at(depth)
        flat = _flat(fields) if isinstance(fields, dict) else fields
        token = _open_call.set(len(calls)) if hold else None
        call = Call(trace, kind, lib, via, parent, in_atomic_block(), frames, flat, token)
        calls.append(call)
        return call
    except Exception as exc:  # the recorder's own: reported, never raised into the site
        report_internal_error(exc)
        return None


def add_finished_call(
    kind: str, lib: str, start_ns: int, end_ns: int, *, depth: int = 1, **fields: Any
) -> None:
    """Record a call that is already over (a statement known to be slow only once it returned)."""
    trace = current_trace.get()
    if trace is None or trace.closed:
        return
    try:
        calls = trace.calls
        if len(calls) >= trace.max_calls:
            trace.dropped += 1
            return
        frames, via = call_site_at(depth)
        call = Call(
            trace,
            kind,
            lib,
            via,
            _open_call.get(),
            in_atomic_block(),
            frames,
            _flat(fields),
            None,
        )
        call.start_ns = start_ns
        call.t_ns = start_ns - trace.start_ns
        call.end_ns = end_ns
        calls.append(call)
    except Exception as exc:  # the recorder's own: reported, never raised into the site
        report_internal_error(exc)


def in_atomic_block() -> bool:
    """True inside ``transaction.atomic()`` on any database connection of this thread.

    Looking connections up through Django's ``connections`` costs 10,000 instructions for one alias (its
    thread-critical ``asgiref`` ``Local``), more than all the rest of recording a call, so each thread keeps
    the connection objects it found. Django keeps one object per alias and thread for the thread's life
    (closing a connection keeps the object; ``transaction.atomic`` only runs on sync threads, where that
    ``Local`` is per thread), so they are looked up again only when the handler's storage or its aliases are
    replaced (tests that swap ``connections``). A thread-local on purpose: it holds Django's per-thread
    objects, never request state.
    """
    try:
        storage, aliases, conns = _thread.conns
        # A Django without ``_connections`` raises AttributeError here: looked up every time, still right.
        if storage is not connections._connections or aliases is not connections.settings:  # type: ignore[attr-defined]
            raise AttributeError  # replaced: look them up again
    except AttributeError:
        storage = getattr(connections, "_connections", None)
        conns = tuple(connections[alias] for alias in connections)
        _thread.conns = (storage, connections.settings, conns)
    for conn in conns:
        if conn.in_atomic_block:
            return True
    return False


_thread = threading.local()
