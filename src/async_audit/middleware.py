"""The middleware a site adds: a trace per request in a ContextVar; sync and async, no thread switch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from async_audit.record.frames import add_stop_code
from async_audit.record.guard import report_internal_error
from async_audit.record.recorder import finish_trace, start_trace
from async_audit.record.trace import current_trace


class AuditMiddleware:
    """Records every request's duration and the slow calls it makes. Put it first in ``MIDDLEWARE``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    # The guards are written out as try/except (what ``guarded()`` does, without its object and two method
    # calls): this runs on every request.

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        try:
            trace, sampled = start_trace(request.method or "GET", request.path_info, "wsgi")
        except Exception as exc:  # the recorder's own: reported, never raised into the site
            report_internal_error(exc)
            trace, sampled = None, False
        if trace is None:
            return self.get_response(request)
        token = current_trace.set(trace)
        status = 500
        try:
            response: HttpResponseBase = self.get_response(request)
            status = response.status_code
            return response
        finally:
            current_trace.reset(token)
            try:
                finish_trace(trace, sampled, request, status)
            except Exception as exc:  # the recorder's own: reported, never raised into the site
                report_internal_error(exc)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            trace, sampled = start_trace(request.method or "GET", request.path_info, "asgi")
        except Exception as exc:  # the recorder's own: reported, never raised into the site
            report_internal_error(exc)
            trace, sampled = None, False
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        if trace is None:
            return await get_response(request)
        token = current_trace.set(trace)
        status = 500
        try:
            response = await get_response(request)
            status = response.status_code
            return response
        finally:
            current_trace.reset(token)
            try:
                finish_trace(trace, sampled, request, status)
            except Exception as exc:  # the recorder's own: reported, never raised into the site
                report_internal_error(exc)


add_stop_code(AuditMiddleware.__call__.__code__)
add_stop_code(AuditMiddleware.__acall__.__code__)
