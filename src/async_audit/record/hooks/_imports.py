"""Run a callback when a module is first imported: how a hook waits for a library the site has not imported.

A library installed in the site's environment is not always used by its web processes: Celery, RQ, Dramatiq
and Huey come with their own dependencies (redis, kombu, ...), and importing them all at start-up to patch
them made a worker's heap a third larger (36,000 more objects on the sample site), which every full
collection of the cycle collector then walks, and ran their import-time code in a site that never asked for
it. So such a hook is installed when the site itself imports the library, by a finder on ``sys.meta_path``:

- it answers only for the watched names, and only by asking the finders after it for the real spec (it is
  skipped while it asks, so it never finds itself);
- it wraps that spec's loader for the one import: the wrapper puts the real loader back on the module before
  the module's code runs (``module.__loader__`` and ``__spec__.loader`` are the library's own afterwards),
  then runs the callbacks once the module's code has run whole. A module whose code raised gets none: the
  site sees its own ImportError, and the callbacks wait for the next attempt;
- each callback runs once, guarded (an error is logged, never raised into the site's ``import``); the finder
  leaves ``sys.meta_path`` when nothing is left to wait for.

This is what ``wrapt.register_post_import_hook`` does (OpenTelemetry and ddtrace use it); it is written out
here to keep the recorder free of a compiled dependency in other people's production sites.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from async_audit.record.guard import report_internal_error

Callback = Callable[[ModuleType], None]


class _Watcher(MetaPathFinder):
    def __init__(self) -> None:
        self.waiting: dict[str, list[Callback]] = {}
        self.lock = threading.RLock()
        self._asking = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self.waiting:
            return None
        asking: set[str] = self._asking.__dict__.setdefault("names", set())
        if fullname in asking:
            return None  # our own question below, going round the finders: let the others answer
        asking.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        except (ImportError, ValueError):
            return None  # the import system asks the other finders itself and raises what it finds
        finally:
            asking.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _ThenRun(spec.loader, fullname, self)
        return spec

    def fire(self, name: str, module: ModuleType) -> None:
        with self.lock:
            callbacks = self.waiting.pop(name, [])
            if not self.waiting:
                remove_finder(self)
        for callback in callbacks:
            _run(callback, module)


class _ThenRun(Loader):
    """The real loader, then the callbacks; attributes other than the two below are the real loader's."""

    def __init__(self, loader: Any, name: str, watcher: _Watcher) -> None:
        self.loader = loader
        self.name = name
        self.watcher = watcher

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        # The module is the library's from here on: tools reading ``__loader__`` (inspect, importlib's
        # resources, pkgutil) find the real loader, never this wrapper.
        module.__loader__ = self.loader
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self.loader
        self.loader.exec_module(module)
        self.watcher.fire(self.name, sys.modules.get(self.name, module))

    def __getattr__(self, name: str) -> Any:
        loader = self.__dict__.get("loader")
        if loader is None:
            raise AttributeError(name)
        return getattr(loader, name)


def _run(callback: Callback, module: ModuleType) -> None:
    try:
        callback(module)
    except Exception as exc:  # noqa: BLE001 - a hook that fails must not fail the site's import
        report_internal_error(exc)


_watcher = _Watcher()


def remove_finder(watcher: MetaPathFinder) -> None:
    try:
        sys.meta_path.remove(watcher)
    except ValueError:
        pass


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once module ``name`` is imported: now if it already is, else right after
    the site's first import of it completes."""
    with _watcher.lock:
        module = sys.modules.get(name)
        if module is None:
            _watcher.waiting.setdefault(name, []).append(callback)
            if _watcher not in sys.meta_path:
                sys.meta_path.insert(0, _watcher)
            return
    _run(callback, module)


def forget(callback: Callback) -> None:
    """Stop waiting to call ``callback`` (a hook uninstalled before its library was imported)."""
    with _watcher.lock:
        for name in list(_watcher.waiting):
            # != rather than ``is not``: a bound method is a new object each time, equal to the last one.
            remaining = [c for c in _watcher.waiting[name] if c != callback]
            if remaining:
                _watcher.waiting[name] = remaining
            else:
                del _watcher.waiting[name]
        if not _watcher.waiting:
            remove_finder(_watcher)


def findable(name: str) -> bool:
    """Whether module ``name`` is installed, found without importing it (its parent package is imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module in sys.modules whose __spec__ is None
        return False


def waiting_for() -> list[str]:
    """The module names a callback waits for."""
    with _watcher.lock:
        return sorted(_watcher.waiting)
