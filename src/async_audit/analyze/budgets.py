"""Timeout budgets: the platform timeouts a request can run into, and parsing durations like ``30s``.

Each known figure names the document it comes from; ``async-audit budgets`` prints them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from async_audit.analyze.model import Budgets
from async_audit.errors import ConfigError, UsageError

__all__ = ["KNOWN_BUDGETS", "KnownBudget", "budgets_from_config", "parse_duration"]


@dataclass(frozen=True)
class KnownBudget:
    """A platform's request timeout: what applies it, the default figure, and where that figure comes from."""

    name: str
    seconds: float | None  # None: no limit by default
    applies_to: str
    source: str
    note: str = ""


KNOWN_BUDGETS: list[KnownBudget] = [
    KnownBudget(
        "Heroku router",
        30.0,
        "every HTTP request to a Heroku app: no first byte within 30 s is an H12 error",
        "https://devcenter.heroku.com/articles/request-timeout",
        "Not configurable.",
    ),
    KnownBudget(
        "gunicorn worker timeout",
        30.0,
        "a sync worker silent for longer than `--timeout` is killed and restarted",
        "https://docs.gunicorn.org/en/stable/settings.html#timeout",
        "Default of the `timeout` setting.",
    ),
    KnownBudget(
        "AWS API Gateway",
        29.0,
        "the integration timeout of REST APIs in front of a backend",
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
        "Default and, for most accounts, maximum.",
    ),
    KnownBudget(
        "nginx proxy_read_timeout",
        60.0,
        "nginx as a reverse proxy: time between two reads from the upstream",
        "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_read_timeout",
        "Default; uwsgi_read_timeout has the same default.",
    ),
    KnownBudget(
        "Apache httpd Timeout",
        60.0,
        "Apache in front of mod_wsgi or as a proxy (ProxyTimeout defaults to Timeout)",
        "https://httpd.apache.org/docs/2.4/mod/core.html#timeout",
    ),
    KnownBudget(
        "AWS Application Load Balancer",
        60.0,
        "connection idle timeout of an ALB",
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html"
        "#connection-idle-timeout",
        "Default; configurable.",
    ),
    KnownBudget(
        "Cloudflare proxy",
        100.0,
        "proxied requests: no response from the origin within 100 s is error 524",
        "https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/"
        "error-524/",
        "Enterprise plans can raise it.",
    ),
    KnownBudget(
        "Azure App Service",
        230.0,
        "the front-end load balancer of App Service",
        "https://learn.microsoft.com/en-us/troubleshoot/azure/app-service/web-apps-performance-faqs",
        "Not configurable.",
    ),
    KnownBudget(
        "Google Cloud Run",
        300.0,
        "request timeout of a Cloud Run service",
        "https://cloud.google.com/run/docs/configuring/request-timeout",
        "Default; configurable up to 60 minutes.",
    ),
    KnownBudget(
        "uWSGI harakiri",
        None,
        "a uWSGI worker busy on one request longer than `harakiri` seconds is killed",
        "https://uwsgi-docs.readthedocs.io/en/latest/Options.html#harakiri",
        "Off by default; commonly set to 30 or 60 s.",
    ),
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h)\s*$", re.IGNORECASE)
_UNIT_MS = {"ms": 1.0, "s": 1_000.0, "sec": 1_000.0, "m": 60_000.0, "min": 60_000.0, "h": 3_600_000.0}


def parse_duration(text: str) -> float:
    """``"30s"``, ``"1.5s"``, ``"800ms"``, ``"2m"`` -> milliseconds; anything else raises ``UsageError``."""
    found = _DURATION.match(text) if isinstance(text, str) else None
    if found is None:
        raise UsageError(f"invalid duration {text!r}: use a number and a unit, like 30s, 1.5s, 800ms or 2m")
    ms = float(found.group(1)) * _UNIT_MS[found.group(2).lower()]
    if not math.isfinite(ms) or ms <= 0:
        raise UsageError(f"invalid duration {text!r}: must be more than zero")
    return ms


def budgets_from_config(settings: Mapping[str, Any], base: Budgets | None = None) -> Budgets:
    """Budgets from a project's ``[tool.async_audit]`` keys ``budget``, ``user_budget``, ``user_percentile``.

    Bad values raise ``ConfigError``; keys that are absent keep ``base``'s figures.
    """
    budgets = base or Budgets()
    changes: dict[str, Any] = {}
    for key, attr in (("budget", "platform_ms"), ("user_budget", "user_ms")):
        if key in settings:
            try:
                changes[attr] = parse_duration(settings[key])
            except UsageError as exc:
                raise ConfigError(f"config {key}: {exc}") from None
    if "budget" in settings:
        changes["platform_name"] = str(settings.get("budget_name", "configured platform timeout"))
    if "user_percentile" in settings:
        value = settings["user_percentile"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
            raise ConfigError(f"config user_percentile: {value!r} is not a percentile between 0 and 100")
        changes["user_percentile"] = float(value)
    return replace(budgets, **changes)
