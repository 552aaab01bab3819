"""The base class of every hook: installed once at start-up, recording only inside a request.

A hook patches one library, idempotently, and can be uninstalled (OpenTelemetry's
``instrument()``/``uninstrument()``). Each wrapper it installs looks up the current trace first and calls
the original untouched when there is none; it calls the original exactly once, outside any guard, so the
site's own exceptions propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from async_audit.record.hooks._imports import findable

MARKER = "__async_audit_original__"


class Hook:
    """One instrumented library. Subclasses set ``name`` and ``requires`` and implement ``_install``."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()  # modules that must be importable
    default: ClassVar[bool] = True  # installed when ASYNC_AUDIT["HOOKS"] is None

    def __init__(self) -> None:
        self.installed = False
        self._patches: list[tuple[Any, str, Any]] = []

    @classmethod
    def available(cls) -> bool:
        return all(findable(module) for module in cls.requires)

    def install(self) -> None:
        if self.installed:
            return
        self._install()
        self.installed = True

    def uninstall(self) -> None:
        for owner, attr, original in reversed(self._patches):
            setattr(owner, attr, original)
        self._patches.clear()
        self._uninstall()
        self.installed = False

    def _install(self) -> None:
        raise NotImplementedError

    def _uninstall(self) -> None:
        """Undo what ``_install`` did beyond ``patch`` (signal receivers, registries)."""

    def patch(self, owner: Any, attr: str, make_wrapper: Callable[[Any], Any]) -> None:
        """Replace ``owner.attr`` with ``make_wrapper(original)``, once, remembering the original."""
        original = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr)
        if original is None:
            original = getattr(owner, attr)
        if getattr(original, MARKER, None) is not None:
            return  # already patched, by this or an earlier instance
        wrapper = make_wrapper(original)
        setattr(wrapper, MARKER, original)
        setattr(owner, attr, wrapper)
        self._patches.append((owner, attr, original))
