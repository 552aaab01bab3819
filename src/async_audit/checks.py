"""System checks for ``ASYNC_AUDIT`` and the middleware's place, with stable ids (``async_audit.W001``...)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from async_audit.conf import get_config, validate

MIDDLEWARE_PATH = "async_audit.middleware.AuditMiddleware"


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for problem in validate(getattr(settings, "ASYNC_AUDIT", None)):
        cls = Error if problem.level == "error" else Warning
        messages.append(cls(problem.msg, hint=problem.hint, id=problem.id))
    messages.extend(_check_output_dir())
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


def _check_output_dir() -> list[CheckMessage]:
    """Warn at deploy time about a directory the file sink cannot write: every record would be lost."""
    config = get_config()
    if not config.enabled or config.sink != "file":
        return []
    # The nearest part of the path that exists decides: the sink creates the rest.
    probe = Path(config.output_dir)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        problem = f"{str(probe)!r} is not a directory"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"{str(probe)!r} is not writable by this process"
    else:
        return []
    return [
        Warning(
            f"async-audit cannot write its records under {str(config.output_dir)!r}: {problem}. Every "
            "record will be counted as lost.",
            hint="Set ASYNC_AUDIT['OUTPUT_DIR'] to a writable directory, or SINK to 'log'.",
            id="async_audit.W003",
        )
    ]
