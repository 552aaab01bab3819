"""Outbound HTTP through httpx: ``Client.send`` and ``AsyncClient.send``, where every httpx API ends up.

One call per ``send``, redirects followed inside it included; with ``stream=False`` (the default) the body is
read inside ``send`` and its download counts. ``timeout`` is the request's read timeout
(``request.extensions["timeout"]["read"]``): the bound on the wait for the response, null when it is None (the
call can wait forever even when a connect or pool timeout is set). A transport that itself goes through
``http.client`` (a urllib3-based transport) is not counted a second time: the httpx call is the innermost
running ``http`` call while it sends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import httpx

from async_audit.record.guard import guarded
from async_audit.record.hooks._http import begin_http, seconds, status_code
from async_audit.record.hooks.base import Hook
from async_audit.record.trace import Call, current_trace

LIB = "httpx"


def _begin(request: Any) -> Call | None:
    url = request.url
    timeout = request.extensions.get("timeout") or {}
    raw_path = url.raw_path
    path = raw_path.decode("ascii", "replace") if isinstance(raw_path, bytes) else str(raw_path)
    return begin_http(
        LIB,
        request.method,
        url.host,
        url.port,
        path,
        seconds(timeout.get("read")) if isinstance(timeout, dict) else None,
        scheme=url.scheme,
    )


def _finish(call: Call, response: Any) -> None:
    with guarded():
        call.finish(status=status_code(response.status_code))


def _wrap_send(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if current_trace.get() is None:
            return original(self, request, *args, **kwargs)
        call = None
        with guarded():
            call = _begin(request)
        if call is None:
            return original(self, request, *args, **kwargs)
        try:
            response = original(self, request, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        _finish(call, response)
        return response

    return send


def _wrap_async_send(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if current_trace.get() is None:
            return await original(self, request, *args, **kwargs)
        call = None
        with guarded():
            call = _begin(request)
        if call is None:
            return await original(self, request, *args, **kwargs)
        try:
            response = await original(self, request, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        _finish(call, response)
        return response

    return send


class HttpxHook(Hook):
    """httpx's sync and async clients."""

    name = "httpx"
    requires = ("httpx",)

    def _install(self) -> None:
        self.patch(httpx.Client, "send", _wrap_send)
        self.patch(httpx.AsyncClient, "send", _wrap_async_send)
