"""The hooks: one module per instrumented library, looked up by name and imported only when installed.

A third-party library's hook (``ON_IMPORT``) is installed when the site first imports the library, not at
start-up: a library installed beside the site is not always used by its web processes, and importing it to
patch it costs the site memory, start-up time and the library's import-time code (``_imports``). The
standard library's and Django's own hooks are installed at start-up.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys

from async_audit.record.hooks._imports import findable, forget, when_imported
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

# name -> the modules whose first import installs the hook (any one of them).
ON_IMPORT: dict[str, tuple[str, ...]] = {
    "httpx": ("httpx",),
    "aiohttp": ("aiohttp",),
    "celery": ("celery",),
    "rq": ("rq",),
    "django.tasks": ("django.tasks", "django_tasks"),
    "dramatiq": ("dramatiq",),
    "huey": ("huey",),
    "django_q": ("django_q",),
}

_instances: dict[str, Hook] = {}
_waiting: dict[str, functools.partial[None]] = {}  # name -> the callback armed for its library's import


def _load(name: str) -> type[Hook]:
    module_name, _, class_name = HOOKS[name].partition(":")
    cls: type[Hook] = getattr(importlib.import_module(module_name), class_name)
    return cls


def hook_available(name: str) -> bool:
    """Whether the library that hook ``name`` instruments is installed (a library not imported yet is looked
    for, not imported)."""
    modules = ON_IMPORT.get(name, ())
    if modules and not any(module in sys.modules for module in modules):
        return any(findable(module) for module in modules)
    module_name = HOOKS[name].partition(":")[0]
    try:
        return _load(name).available()
    except ImportError:
        logger.debug("hook module %s cannot be imported", module_name)
        return False


def install_hooks(names: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """Install the named hooks (None: every default hook whose library is installed); returns those
    installed, and those waiting for the site to import their library (``ON_IMPORT``).

    A default hook whose library is missing is skipped quietly; a hook asked for by name whose library is
    missing is an error the system checks report (``async_audit.E005``), and is skipped here.
    """
    wanted = list(HOOKS) if names is None else list(names)
    done = []
    for name in wanted:
        if name not in HOOKS:
            continue
        modules = ON_IMPORT.get(name, ())
        if modules and not any(module in sys.modules for module in modules):
            if name in _waiting or _arm(name, modules, default_only=names is None):
                done.append(name)
            continue
        if _install(name, default_only=names is None):
            done.append(name)
    return done


def _install(name: str, *, default_only: bool) -> bool:
    try:
        cls = _load(name)
    except ImportError:
        return False
    if default_only and not cls.default:
        return False
    if not cls.available():
        return False
    hook = _instances.get(name)
    if hook is None:
        hook = _instances[name] = cls()
    try:
        hook.install()
    except Exception:  # noqa: BLE001 - a library we cannot patch must not stop the site from starting
        logger.warning("async-audit could not install the %r hook", name, exc_info=True)
        return False
    return True


def _arm(name: str, modules: tuple[str, ...], *, default_only: bool) -> bool:
    """Wait for the site's first import of one of ``modules`` to install hook ``name``; False when none of
    them is installed."""
    if not any(findable(module) for module in modules):
        return False
    callback = _waiting[name] = functools.partial(_imported, name, default_only)
    for module in modules:
        when_imported(module, callback)
    return True


def _imported(name: str, default_only: bool, module: object) -> None:
    callback = _waiting.pop(name, None)
    if callback is None:
        return  # another of its modules came first, or the hook was uninstalled meanwhile
    forget(callback)
    _install(name, default_only=default_only)


def uninstall_hooks() -> None:
    """Uninstall every installed hook, and stop waiting for the libraries not imported yet."""
    for callback in _waiting.values():
        forget(callback)
    _waiting.clear()
    for hook in _instances.values():
        if hook.installed:
            hook.uninstall()


def installed_hooks() -> list[str]:
    return sorted(name for name, hook in _instances.items() if hook.installed)


def waiting_hooks() -> list[str]:
    """The hooks waiting for the site to import their library."""
    return sorted(_waiting)
