"""The hooks: one module per instrumented library, looked up by name and imported only when installed."""

from __future__ import annotations

import importlib
import logging

from async_audit.record.hooks.base import Hook

logger = logging.getLogger("async_audit")

# name -> "module:Class". Importing a hook module may import its library, so this table stays lazy.
HOOKS: dict[str, str] = {
    "sql": "async_audit.record.hooks.sql:SqlHook",
    "http.client": "async_audit.record.hooks.http_client:HttpClientHook",
    "httpx": "async_audit.record.hooks.httpx_hook:HttpxHook",
    "aiohttp": "async_audit.record.hooks.aiohttp_hook:AiohttpHook",
    "django.mail": "async_audit.record.hooks.django_mail:DjangoMailHook",
    "smtplib": "async_audit.record.hooks.smtplib_hook:SmtplibHook",
    "celery": "async_audit.record.hooks.celery_hook:CeleryHook",
    "rq": "async_audit.record.hooks.rq_hook:RqHook",
    "django.tasks": "async_audit.record.hooks.django_tasks_hook:DjangoTasksHook",
    "dramatiq": "async_audit.record.hooks.dramatiq_hook:DramatiqHook",
    "huey": "async_audit.record.hooks.huey_hook:HueyHook",
    "django_q": "async_audit.record.hooks.django_q_hook:DjangoQHook",
}

_instances: dict[str, Hook] = {}


def _load(name: str) -> type[Hook]:
    module_name, _, class_name = HOOKS[name].partition(":")
    cls: type[Hook] = getattr(importlib.import_module(module_name), class_name)
    return cls


def hook_available(name: str) -> bool:
    """Whether the library that hook ``name`` instruments is installed."""
    module_name = HOOKS[name].partition(":")[0]
    try:
        return _load(name).available()
    except ImportError:
        logger.debug("hook module %s cannot be imported", module_name)
        return False


def install_hooks(names: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """Install the named hooks (None: every default hook whose library is installed); returns the installed.

    A default hook whose library is missing is skipped quietly; a hook asked for by name whose library is
    missing is an error the system checks report (``async_audit.E005``), and is skipped here.
    """
    wanted = list(HOOKS) if names is None else list(names)
    installed = []
    for name in wanted:
        if name not in HOOKS:
            continue
        try:
            cls = _load(name)
        except ImportError:
            continue
        if names is None and not cls.default:
            continue
        if not cls.available():
            continue
        hook = _instances.get(name)
        if hook is None:
            hook = _instances[name] = cls()
        try:
            hook.install()
        except Exception:  # noqa: BLE001 - a library we cannot patch must not stop the site from starting
            logger.warning("async-audit could not install the %r hook", name, exc_info=True)
            continue
        installed.append(name)
    return installed


def uninstall_hooks() -> None:
    for hook in _instances.values():
        if hook.installed:
            hook.uninstall()


def installed_hooks() -> list[str]:
    return sorted(name for name, hook in _instances.items() if hook.installed)
