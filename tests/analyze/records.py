"""Builders of version-1 records for hand-computed tests."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

_ids = itertools.count(1)


def site(file: str = "shop/views.py", line: int = 10, function: str = "checkout") -> dict[str, Any]:
    return {"file": file, "line": line, "function": function}


def call(
    kind: str,
    t: float,
    ms: float,
    *,
    parent: int | None = None,
    at: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    where = at or site()
    base: dict[str, Any] = {
        "kind": kind,
        "lib": extra.pop("lib", _LIBS[kind]),
        "via": extra.pop("via", None),
        "t": t,
        "ms": ms,
        "parent": parent,
        "atomic": extra.pop("atomic", False),
        "site": where,
        "stack": [where],
        "error": extra.pop("error", None),
    }
    base.update(_DEFAULTS[kind])
    base.update(extra)
    return base


_LIBS = {
    "http": "urllib3",
    "email": "django.mail",
    "sql": "django.db",
    "task": "celery",
    "block": "async_audit.track",
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "http": {
        "method": "POST",
        "host": "hooks.example.com",
        "port": 443,
        "path": "/hook",
        "status": 200,
        "timeout": 5.0,
    },
    "email": {"backend": "django.core.mail.backends.smtp.EmailBackend", "messages": 1, "recipients": 1},
    "sql": {"alias": "default", "sql": "SELECT 1"},
    "task": {"task": "shop.tasks.sync", "backend": "celery", "queue": None, "inline": False},
    "block": {"name": "render_pdf"},
}


def http(t: float, ms: float, **extra: Any) -> dict[str, Any]:
    return call("http", t, ms, **extra)


def email(t: float, ms: float, **extra: Any) -> dict[str, Any]:
    return call("email", t, ms, **extra)


def request(
    ms: float,
    calls: list[dict[str, Any]] | None = None,
    *,
    route: str | None = "shop/checkout/",
    method: str = "POST",
    ts: float = 1_764_300_000.0,
    **extra: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "v": 1,
        "id": f"{next(_ids):016x}",
        "ts": ts,
        "host": "web-1",
        "pid": 100,
        "proto": "wsgi",
        "method": method,
        "route": route,
        "view": "shop.views.checkout" if route else None,
        "status": 200,
        "ms": ms,
        "cpu_ms": 1.0,
        "db": {"n": 1, "ms": 1.0},
        "dropped": 0,
        "unsampled": 0,
        "lost": {"queue": 0, "write": 0},
        "calls": calls or [],
    }
    record.update(extra)
    return record


def write(path: Path, records: list[Any], extra_lines: list[str] = ()) -> Path:  # type: ignore[assignment]
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path
