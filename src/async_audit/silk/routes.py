"""Routes for silk's paths from the site's own URLconf (silk keeps the path and the URL name, no pattern)."""

from __future__ import annotations

import os
import sys
from typing import Any

from async_audit.errors import InputError
from async_audit.silk.importer import Resolver

__all__ = ["django_resolver", "site_project_roots", "site_resolver"]


def _route(match: Any) -> str | None:
    # As the recorder writes it: the pattern, else the URL name (re_path routes in old Django).
    route = getattr(match, "route", None)
    if route:
        return str(route)
    name = getattr(match, "view_name", None)
    return str(name) if name else None


def site_resolver(urlconf: str | None = None) -> Resolver:
    """A resolver over the configured site's URLconf (or ``urlconf``); results are cached by path."""
    from django.urls import Resolver404, resolve

    cache: dict[str, tuple[str | None, str | None] | None] = {}

    def resolver(path: str) -> tuple[str | None, str | None] | None:
        if path in cache:
            return cache[path]
        try:
            match = resolve(path, urlconf)
        except Resolver404:
            result = None
        except Exception as exc:  # the URLconf itself failed to import or to match: a user problem
            raise InputError(
                f"resolving {urlconf or 'ROOT_URLCONF'} failed: {type(exc).__name__}: {exc}"
            ) from None
        else:
            result = (_route(match), getattr(match, "_func_path", None))
        cache[path] = result
        return result

    return resolver


def django_resolver(settings_module: str | None = None, urlconf: str | None = None) -> Resolver:
    """Set Django up with ``settings_module`` (or bare settings holding only ``urlconf``) and resolve with it.

    The current directory goes on ``sys.path`` first, as ``manage.py`` does, so run from the project's root.
    """
    import django
    from django.conf import settings

    if settings_module is None and urlconf is None:
        raise InputError("give --settings or --urlconf to resolve routes")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if settings_module is not None:
            os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
            settings._setup()  # type: ignore[misc]  # reload from the module named now
        elif not settings.configured:
            settings.configure(ROOT_URLCONF=urlconf, USE_TZ=True)
        django.setup()
        resolver = site_resolver(urlconf)
        resolver("/")  # imports the URLconf now, so a broken one fails before anything is read
    except InputError:
        raise
    except Exception as exc:
        what = settings_module or urlconf
        raise InputError(f"{what}: cannot load it to resolve routes: {type(exc).__name__}: {exc}") from None
    return resolver


def site_project_roots() -> list[tuple[str, str]]:
    """The configured site's ``PROJECT_ROOTS`` as (directory, relative-to) pairs."""
    from async_audit.conf import get_config

    return [(root.path, root.relative_to) for root in get_config().project_roots]
