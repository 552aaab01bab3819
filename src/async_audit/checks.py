"""System checks for ``ASYNC_AUDIT`` and the middleware's place, with stable ids (``async_audit.W001``...)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from async_audit.conf import validate

MIDDLEWARE_PATH = "async_audit.middleware.AuditMiddleware"


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for problem in validate(getattr(settings, "ASYNC_AUDIT", None)):
        cls = Error if problem.level == "error" else Warning
        messages.append(cls(problem.msg, hint=problem.hint, id=problem.id))
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        messages.append(
            Warning(
                "async_audit is installed but its middleware is not in MIDDLEWARE: nothing will be recorded.",
                hint=f"Add {MIDDLEWARE_PATH!r} at the top of MIDDLEWARE.",
                id="async_audit.W010",
            )
        )
    elif middleware.index(MIDDLEWARE_PATH) != 0:
        messages.append(
            Warning(
                "AuditMiddleware is not first in MIDDLEWARE: middleware above it is not measured.",
                hint="Move it to the top so the recorded duration is the whole request.",
                id="async_audit.W011",
            )
        )
    return messages
