"""Outbound HTTP through aiohttp: ``ClientSession._request``, where ``get``, ``post``, ``request``... end up.

One call per request, redirects included, ending when the response's head has arrived (the body is read
later, by the caller). ``timeout`` is the bound on that wait from the request's ``ClientTimeout``, or else the
session's: the smaller of ``total`` and ``sock_read``, null when both are None.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from async_audit.record.guard import guarded
from async_audit.record.hooks._http import begin_http, seconds, status_code
from async_audit.record.hooks.base import Hook
from async_audit.record.trace import Call, current_trace

LIB = "aiohttp"
_ABSENT = object()
_SENTINEL = getattr(aiohttp.helpers, "sentinel", _ABSENT)


def _timeout(session: Any, timeout: Any) -> float | None:
    # As ClientSession._request reads it: absent means the session's, a number or None means total=that.
    if timeout is _ABSENT or timeout is _SENTINEL:
        timeout = getattr(session, "_timeout", None)
    if not isinstance(timeout, aiohttp.ClientTimeout):
        return seconds(timeout) if timeout is None or isinstance(timeout, (int, float)) else None
    bounds = [b for b in (seconds(timeout.total), seconds(timeout.sock_read)) if b is not None]
    return min(bounds) if bounds else None


def _begin(session: Any, method: Any, str_or_url: Any, timeout: Any) -> Call | None:
    build = getattr(session, "_build_url", None)
    url = build(str_or_url) if build is not None else URL(str_or_url)
    return begin_http(
        LIB, method, url.host, url.port, url.raw_path, _timeout(session, timeout), scheme=url.scheme
    )


def _wrap_request(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def _request(self: Any, method: Any, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        if current_trace.get() is None:
            return await original(self, method, str_or_url, *args, **kwargs)
        call = None
        with guarded():
            call = _begin(self, method, str_or_url, kwargs.get("timeout", _ABSENT))
        if call is None:
            return await original(self, method, str_or_url, *args, **kwargs)
        try:
            response = await original(self, method, str_or_url, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        with guarded():
            call.finish(status=status_code(response.status))
        return response

    return _request


class AiohttpHook(Hook):
    """aiohttp's client sessions."""

    name = "aiohttp"
    requires = ("aiohttp",)

    def _install(self) -> None:
        self.patch(aiohttp.ClientSession, "_request", _wrap_request)
