"""Outbound HTTP through the standard library's ``http.client``.

One hook covers ``urllib.request``, urllib3, requests, and the SDKs built on them (Stripe, Elasticsearch's
elastic-transport, botocore), because all of them drive an ``http.client.HTTPConnection``. One call spans the
connect, the sending of the request and the wait for the response's head:

- it starts at the first of ``connect`` (urllib3 opens HTTPS connections ahead of the request), ``putrequest``
  (``request()`` and the ``putrequest``/``putheader``/``endheaders`` flow) or ``send`` (a request written by
  hand), and ends when ``getresponse`` returns or fails;
- a request whose response is never read ends when the connection is closed or its next request starts, with
  status null; a keep-alive connection reused for several requests records one call per request.

The call in flight is kept by the request's trace, keyed by connection, since its phases are separate method
calls. Nothing is stored on the connection: an attribute added to and removed from a third-party object turns
its attributes' fast, inline storage into a plain dictionary, which made every later attribute read of
http.client and urllib3 on that connection several times slower. The call does not stay the innermost open
call of the request between those methods (a connection whose response is never read would otherwise swallow
every later call of the request), so calls made beside it are not nested under it; calls it is made inside of
(an email, a block) are its parent. A response read outside the request's context (another thread it did not
hand its context to) is not seen: its call ends when the request does, as unfinished. ``timeout`` is the
socket timeout in force when the wait for the response starts, which is the read timeout for urllib3 and
requests (``timeout=(connect, read)``).
"""

from __future__ import annotations

import functools
import http.client
import socket
import sys
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from django.db import connections

from async_audit.record import frames
from async_audit.record import trace as trace_module
from async_audit.record.guard import guarded, report_internal_error
from async_audit.record.hooks import _http
from async_audit.record.hooks._http import (
    begin_http,
    cleaned_host,
    masked_path,
    port_number,
    seconds,
    status_code,
)
from async_audit.record.hooks.base import Hook
from async_audit.record.trace import Call, Trace, current_trace

# The wrappers on the request path catch their own errors with try/except and report them, as
# ``guarded()`` does, without its two method calls: this runs several times for every request.
LIB = "http.client"
_HTTPS = getattr(http.client, "HTTPSConnection", None)  # absent when Python was built without ssl
try:
    import ssl

    _SOCKETS: tuple[type, ...] = (socket.socket, ssl.SSLSocket)
except ImportError:  # Python built without ssl
    _SOCKETS = (socket.socket,)


class _InFlight:
    """The request currently on a connection, and its call (None: the recorder declined to record it)."""

    __slots__ = ("conn", "table", "call", "sent", "connecting", "done")

    def __init__(self, conn: Any, table: dict[int, _InFlight], call: Call | None) -> None:
        self.conn = conn  # held while the request is in flight: its id cannot be reused meanwhile
        self.table = table  # the trace's requests in flight, this one under id(conn)
        self.call = call
        self.sent = False  # the request line is known (written by putrequest or by hand)
        self.connecting = False  # inside connect: what it sends is a proxy's CONNECT, not the request
        self.done = False


def _timeout_in_force(conn: Any) -> float | None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            timeout = sock.gettimeout()
        except Exception:  # noqa: BLE001 - not a socket after all (a test double, a wrapped TLS object)
            timeout = getattr(conn, "timeout", None)
    else:
        timeout = getattr(conn, "timeout", None)
    # A socket's own timeout is a finite non-negative float or None: nothing to shape.
    return timeout if timeout is None or type(timeout) is float else seconds(timeout)


def _in_flight(trace: Trace, conn: Any) -> _InFlight | None:
    """The request in flight on ``conn`` in ``trace``, if any."""
    table = trace.http
    if table is None:
        return None
    in_flight = table.get(id(conn))
    return in_flight if in_flight is not None and in_flight.conn is conn else None


def _start(trace: Trace, conn: Any, method: Any, path: Any, depth: int) -> _InFlight:
    """Begin the call for the request on ``conn``; ``depth``: the wrapper's caller, counted from here."""
    tunnel = getattr(conn, "_tunnel_host", None)
    host, port = (tunnel, getattr(conn, "_tunnel_port", None)) if tunnel else (conn.host, conn.port)
    scheme = "https" if _HTTPS is not None and isinstance(conn, _HTTPS) else "http"
    # The walk for the call site starts at the wrapper's caller: the hook's own frames are skipped anyway.
    # Not held as the request's innermost open call: its phases are separate method calls, and holding it
    # between them would leave it dangling whenever the response is never read.
    call = begin_http(LIB, method, host, port, path, None, scheme, depth + 2, False)
    # Kept even when declined (call cap, nested under another http call): the request's later phases must not
    # ask again, or one request past the cap would count as dropped once per chunk it sends.
    table = trace.http
    if table is None:
        table = trace.http = {}
    in_flight = table[id(conn)] = _InFlight(conn, table, call)
    return in_flight


def _end(
    in_flight: _InFlight,
    exc: BaseException | None = None,
    status: Any = None,
    timeout: Any = False,
) -> None:
    try:
        table = in_flight.table
        key = id(in_flight.conn)
        if table.get(key) is in_flight:
            del table[key]
        if in_flight.done or in_flight.call is None:
            return
        in_flight.done = True
        if timeout is False:
            timeout = _timeout_in_force(in_flight.conn)
        if exc is not None:
            in_flight.call.end(("timeout", timeout), type(exc).__name__)
        else:
            code = status if type(status) is int else status_code(status)
            in_flight.call.end(("status", code, "timeout", timeout))
    except Exception as error:  # the recorder's own: reported, never raised into the site
        report_internal_error(error)


def _request_line(data: Any) -> tuple[str, str]:
    """Method and target of a request written by hand (``conn.send(b"GET /x HTTP/1.1\\r\\n...")``)."""
    if isinstance(data, str):
        data = data.encode("latin-1", "replace")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return "", ""
    line = bytes(data[:2048]).split(b"\r\n", 1)[0].split(b" ")
    if len(line) == 3 and line[2].startswith(b"HTTP/") and line[0].isalpha():
        return line[0].decode("ascii"), line[1].decode("latin-1")
    return "", ""


def _pending_request(frame: FrameType | None) -> tuple[Any, Any]:
    """Method and URL of the urllib3 request a connection is being opened for, ahead of ``putrequest``.

    urllib3 connects HTTPS connections before it writes the request; without this a refused connection would
    be recorded with no method and no path.
    """
    for _ in range(6):
        if frame is None:
            break
        if frame.f_code.co_name == "_make_request" and str(frame.f_globals.get("__name__")).startswith(
            "urllib3"
        ):
            local = frame.f_locals
            return local.get("method", ""), local.get("url", "")
        frame = frame.f_back
    return "", ""


def _wrap_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def connect(self: Any, *args: Any, **kwargs: Any) -> Any:
        trace = current_trace.get()
        if trace is None or trace.closed:
            return original(self, *args, **kwargs)
        in_flight = None
        with guarded():
            in_flight = _in_flight(trace, self)
            if in_flight is None:
                in_flight = _start(trace, self, *_pending_request(sys._getframe(1)), 2)
        if in_flight is None:
            return original(self, *args, **kwargs)
        connecting, in_flight.connecting = in_flight.connecting, True
        try:
            return original(self, *args, **kwargs)
        except BaseException as exc:
            _end(in_flight, exc)
            raise
        finally:
            in_flight.connecting = connecting

    return connect


def _for_request(trace: Trace, conn: Any, method: Any, url: Any) -> _InFlight | None:
    table = trace.http
    in_flight = None if table is None else table.get(id(conn))
    if in_flight is not None and (in_flight.conn is not conn or in_flight.sent):
        if in_flight.conn is conn:
            _end(in_flight)  # the previous request's response was never read
        in_flight = None
    if in_flight is None:
        in_flight = _start(trace, conn, method, url, 3)
    elif in_flight.call is not None:
        # Opened ahead of its request (urllib3 over HTTPS): the request line is known now.
        in_flight.call.set(method=str(method or "").upper(), path=masked_path(str(url)) if url else "")
    if in_flight.call is not None and isinstance(url, str) and "://" in url[:12]:
        # Absolute form, through a forwarding proxy: the connection's host is the proxy, the URL's the API.
        target = urlsplit(url)
        try:
            port = target.port or port_number(None, target.scheme)
        except ValueError:  # not a number: the connection's own port stays
            port = None
        if target.hostname and port is not None:
            in_flight.call.set(host=cleaned_host(target.hostname), port=port)
    in_flight.sent = True
    return in_flight


def _wrap_putrequest(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def putrequest(self: Any, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        trace = current_trace.get()
        if trace is None or trace.closed:
            return original(self, method, url, *args, **kwargs)
        in_flight = None
        try:
            in_flight = _begin(trace, self, method, url)
        except Exception as error:  # the recorder's own: reported, never raised into the site
            report_internal_error(error)
        try:
            return original(self, method, url, *args, **kwargs)
        except BaseException as exc:
            if in_flight is not None:
                _end(in_flight, exc)
            raise

    return putrequest


def _for_send(trace: Trace, conn: Any, in_flight: _InFlight | None, data: Any) -> _InFlight | None:
    if in_flight is None:
        # A request written by hand, without putrequest.
        in_flight = _start(trace, conn, *_request_line(data), 3)
        in_flight.sent = True
    elif not in_flight.sent and not in_flight.connecting:
        # Written by hand on a connection opened ahead of it.
        method, target = _request_line(data)
        if method:
            if in_flight.call is not None:
                in_flight.call.set(method=method.upper(), path=masked_path(target))
            in_flight.sent = True
    return in_flight


def _wrap_send(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def send(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        trace = current_trace.get()
        if trace is None or trace.closed:
            return original(self, data, *args, **kwargs)
        table = trace.http  # _in_flight() written out: this runs for every chunk a request sends
        in_flight = None if table is None else table.get(id(self))
        if in_flight is not None and in_flight.conn is not self:
            in_flight = None
        # urllib3 sends a body in many chunks: the common case (the request line is written) does no more.
        if in_flight is None or not in_flight.sent:
            try:
                in_flight = _for_send(trace, self, in_flight, data)
            except Exception as error:  # the recorder's own: reported, never raised into the site
                report_internal_error(error)
        try:
            return original(self, data, *args, **kwargs)
        except BaseException as exc:
            if in_flight is not None:
                _end(in_flight, exc)
            raise

    return send


def _wrap_getresponse(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def getresponse(self: Any, *args: Any, **kwargs: Any) -> Any:
        trace = current_trace.get()
        table = None if trace is None else trace.http  # _in_flight() written out: once per request
        in_flight = None if table is None else table.get(id(self))
        if in_flight is None or in_flight.conn is not self:
            return original(self, *args, **kwargs)
        timeout = None
        try:
            # _timeout_in_force() for a real socket, written out: once per request.
            sock: Any = getattr(self, "sock", None)
            timeout = sock.gettimeout() if type(sock) in _SOCKETS else _timeout_in_force(self)
            # Taken out of the table first: getresponse closes a connection the server will close, and that
            # close must not end this call without its status.
            del in_flight.table[id(self)]
        except Exception as error:  # the recorder's own: reported, never raised into the site
            report_internal_error(error)
        try:
            response = original(self, *args, **kwargs)
        except BaseException as exc:
            _end(in_flight, exc, None, timeout)
            raise
        try:
            _finish(in_flight, None, getattr(response, "status", None), timeout)
        except Exception as error:  # the recorder's own: reported, never raised into the site
            report_internal_error(error)
        return response

    return getresponse


def _wrap_close(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        trace = current_trace.get()
        if trace is not None:
            in_flight = _in_flight(trace, self)
            if in_flight is not None:
                _end(in_flight)  # before the socket goes: its timeout is still readable
        return original(self, *args, **kwargs)

    return close


def _fast_path() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``_for_request`` and ``_end`` as the wrappers call them: the C versions of their common case
    (``_callsite.c``, which hands every other case back to these) where the C walk is in use, else these."""
    if frames.call_site_at is frames._python_call_site_at:
        return _for_request, _end
    try:
        from async_audit.record import _callsite

        _callsite.configure_http(
            Trace,
            Call,
            _InFlight,
            trace_module._open_call,
            vars(trace_module),
            frames.call_site_at,
            _http._hosts,
            _http._masked,
            cleaned_host,
            masked_path,
            time.perf_counter_ns,
            _for_request,
            _end,
            status_code,
            trace_module.in_atomic_block,
            trace_module._thread,
            connections,
        )
    except Exception as error:  # a module built from other sources: Python, never a broken import
        report_internal_error(error)
        return _for_request, _end
    return _callsite.http_begin, _callsite.http_end


# Module globals, read by the wrappers at each call (tests switch them to compare the two).
_begin, _finish = _fast_path()


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


class HttpClientHook(Hook):
    """``http.client.HTTPConnection`` and every subclass (HTTPS, urllib3, botocore...)."""

    name = "http.client"
    requires = ("http.client",)

    def __init__(self) -> None:
        super().__init__()
        self._subclass_hook: Any = None

    def _install(self) -> None:
        base = http.client.HTTPConnection
        self.patch(base, "putrequest", _wrap_putrequest)
        self.patch(base, "send", _wrap_send)
        self.patch(base, "getresponse", _wrap_getresponse)
        self.patch(base, "close", _wrap_close)
        for cls in (base, *_subclasses(base)):
            self._patch_connect(cls)
        # Subclasses defined later (urllib3 is often imported lazily, inside a view module) override
        # ``connect`` without calling ours: wrap theirs as each class is created.
        if "__init_subclass__" not in base.__dict__:
            hook = self

            def __init_subclass__(cls: type, **kwargs: Any) -> None:
                super(base, cls).__init_subclass__(**kwargs)  # type: ignore[misc]
                with guarded():
                    hook._patch_connect(cls)

            base.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment,arg-type]
            self._subclass_hook = base.__dict__["__init_subclass__"]

    def _patch_connect(self, cls: type) -> None:
        if "connect" in cls.__dict__:
            self.patch(cls, "connect", _wrap_connect)

    def _uninstall(self) -> None:
        base = http.client.HTTPConnection
        if self._subclass_hook is not None and base.__dict__.get("__init_subclass__") is self._subclass_hook:
            del base.__init_subclass__
        self._subclass_hook = None
