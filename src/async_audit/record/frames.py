"""Find the project's call site for a recorded call, and the third-party package it went through.

Walking the stack is the recorder's main per-call cost, so every code object is classified once and cached:
the project's own code (under a ``PROJECT_ROOTS`` entry), a third-party package (and its top-level name),
or something to pass over (the standard library, Django itself, async-audit).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import CodeType, FrameType
from typing import Any

from django.core.handlers.base import BaseHandler

from async_audit.conf import Config, get_config, on_config_change
from async_audit.record.guard import report_internal_error

MAX_STACK = 8
_FLAT_MAX = MAX_STACK * 3  # a stack kept flat: file, line, function, file, ...

# What a code object is, computed once per code object.
_PROJECT = 0  # the audited project's own code: (kind, relpath)
_THIRD = 1  # a third-party package: (kind, top-level package name)
_SKIP = 2  # stdlib, Django, async-audit, frozen modules: neither a call site nor a "via"
_STOP = 3  # the request's entry (Django's handler, the middleware): nothing further out is the call's

# Frameworks between the project and a hook are plumbing, not the SDK that made the call (django-silk's
# ORM patch and profiler wrap the site's own queries and functions).
_PLUMBING = frozenset(
    {"django", "asgiref", "async_audit", "gunicorn", "uvicorn", "daphne", "whitenoise", "silk"}
)

# Keyed by id(code): hashing a code object hashes its bytecode and constants on every lookup (over a
# microsecond each). The entry holds the code object, so its id cannot be reused while cached: an entry found
# by id is the entry of that very code object.
_cache: dict[int, tuple[CodeType, int, str | None, str]] = {}

# The walk's fast path, per module: keyed by id() of the module's globals (the entry holds the dict, so the
# id cannot be reused while cached). A module whose every frame is passed over (_SKIP) or is the same
# third-party package (_THIRD) is classified once for all its functions; any other module (the project's
# own, one holding a stop code, code compiled under another file name) goes by code object (_BY_CODE).
# Most frames of a request's stack belong to the first two kinds, and a stack holds few modules.
_BY_CODE = 4
_modules: dict[int, tuple[dict[str, Any], int, str | None]] = {}

# The same per-module entries keyed by module name, for the walk by name (``call_site_at``, Python 3.12+):
# ``sys._getframemodulename`` reads a frame's module name without making a frame object for it (a frame
# object is allocated for each of a call's ten-odd library frames by the walk by frame object, and freed when
# its function returns). Only frames whose module goes by code object (the project's own, the stop codes')
# are made. Repeated at one point of a request, the walk takes 2.5 µs against 2.9 µs by frame object.
_names: dict[str, tuple[int, str | None]] = {}
_frame_module_name: Any = getattr(sys, "_getframemodulename", None)

# A project frame of a call's stack: (path relative to its project root, line, function). The record's
# ``{"file", "line", "function"}`` objects are built from these on the sink's writer thread.
Frame = tuple[str, int, str]


# Code objects where the walk stops: Django's handler calling the view, and AuditMiddleware calling the rest
# of the chain. The frames outside them (middleware plumbing, the server, the test client) hold no call site
# and are most of a request's stack; a call made in a project's own middleware meets its frame first.
_stop_codes: dict[int, CodeType] = {}
_stop_files: set[str] = set()


def add_stop_code(code: CodeType) -> None:
    """Stop every call-site walk at frames running ``code``."""
    _stop_codes[id(code)] = code
    _stop_files.add(_real(code.co_filename))
    _cache.pop(id(code), None)
    _modules.clear()
    _names.clear()
    _forget_in_c()


def _clear_cache() -> None:
    _cache.clear()
    _modules.clear()
    _names.clear()
    _forget_in_c()


def _forget_in_c() -> None:
    """Empty the C walk's tables in front of ``_modules`` and ``_cache`` (set at the end of the module)."""


on_config_change(_clear_cache)


def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get("stdlib"), paths.get("platstdlib"), os.path.dirname(os.__file__)}
    return tuple(sorted({os.path.realpath(d) + os.sep for d in dirs if d}))


def _site_dirs() -> tuple[str, ...]:
    dirs = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib")}
    dirs.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(sorted({os.path.realpath(d) + os.sep for d in dirs if d}))


_STDLIB = _stdlib_dirs()
_SITE = _site_dirs()
_realpath_cache: dict[str, str] = {}


def _real(filename: str) -> str:
    real = _realpath_cache.get(filename)
    if real is None:
        real = _realpath_cache[filename] = os.path.realpath(filename)
    return real


def classify_code(code: CodeType, module: str | None, config: Config) -> tuple[int, str | None, str]:
    """``(_PROJECT, relative path, name)``, ``(_THIRD, package, name)`` or ``(_SKIP, None, name)``."""
    if _stop_codes.get(id(code)) is code:
        return _STOP, None, code.co_name
    kind, name = _classify(code, module, config)
    return kind, name, getattr(code, "co_qualname", code.co_name)


def _classify(code: CodeType, module: str | None, config: Config) -> tuple[int, str | None]:
    filename = code.co_filename
    top = (module or "").partition(".")[0]
    if top in ("async_audit",) or filename.startswith("<"):
        return (_SKIP, None)
    real = _real(filename)
    for root in config.project_roots:
        # Installed packages named in PROJECT_ROOTS come first: they live inside site-packages.
        if root.package is not None and (real == root.path or real.startswith(root.path + os.sep)):
            return (_PROJECT, os.path.relpath(real, root.relative_to))
    in_site = real.startswith(_SITE)
    if not in_site:
        for root in config.project_roots:
            if root.package is None and real.startswith(root.path + os.sep):
                return (_PROJECT, os.path.relpath(real, root.relative_to))
    if in_site:
        if not top:
            top = _package_from_path(real)
        return (_SKIP, None) if top in _PLUMBING or not top else (_THIRD, top)
    return (_SKIP, None)


def _package_from_path(real: str) -> str:
    for site in _SITE:
        if real.startswith(site):
            first = real[len(site) :].split(os.sep, 1)[0]
            return first[:-3] if first.endswith(".py") else first
    return ""


def _module_entry(frame: FrameType, config: Config) -> tuple[dict[str, Any], int, str | None]:
    code = frame.f_code
    namespace = frame.f_globals
    module = namespace.get("__name__")
    kind, name, _ = classify_code(code, module if isinstance(module, str) else None, config)
    file = namespace.get("__file__")
    whole = (
        kind in (_SKIP, _THIRD)
        and isinstance(file, str)
        and _real(file) == _real(code.co_filename)
        and _real(file) not in _stop_files
    )
    entry = (namespace, kind if whole else _BY_CODE, name)
    _modules[id(namespace)] = entry
    return entry


def _code_entry(frame: FrameType, config: Config) -> tuple[CodeType, int, str | None, str]:
    code = frame.f_code
    entry = _cache.get(id(code))
    if entry is None:
        module = frame.f_globals.get("__name__")
        entry = _cache[id(code)] = (code, *classify_code(code, module, config))
    return entry


def call_site(frame: FrameType | None) -> tuple[tuple[Frame, ...], str | None]:
    """``(stack, via)`` for a call whose innermost frame is ``frame``.

    ``stack`` is up to ``MAX_STACK`` project frames, innermost first (the first is the call site; none when
    the call came from no project code), ``via`` the outermost third-party package between the project frame
    and the hook.
    """
    flat: list[Any] = []
    via = _walk(frame, get_config(), flat, None)
    return tuple(zip(flat[::3], flat[1::3], flat[2::3], strict=True)), via


def _walk(frame: FrameType | None, config: Config, stack: list[Any], via: str | None) -> str | None:
    """Walk outward from ``frame`` by frame object, adding to ``stack`` (flat: file, line, function, file,
    ...); returns ``via``."""
    modules = _modules
    while frame is not None:
        module_entry = modules.get(id(frame.f_globals))
        if module_entry is None:
            module_entry = _module_entry(frame, config)
        kind = module_entry[1]
        if kind == _BY_CODE:
            entry = _code_entry(frame, config)
            kind = entry[1]
            if kind == _PROJECT:
                stack += (entry[2], frame.f_lineno, entry[3])
                if len(stack) >= _FLAT_MAX:
                    break
            elif kind == _THIRD:
                if not stack:
                    via = entry[2]
            elif kind == _STOP:
                break
        elif kind == _THIRD and not stack:
            via = module_entry[2]
        frame = frame.f_back
    return via


def _entry_by_name(name: str | None, depth: int, config: Config) -> tuple[int, str | None]:
    """The entry of frame ``depth`` (counted as ``_call_site_by_name`` counts them), cached under its module
    name when the frame is of that module; a stop past the outermost frame."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return (_STOP, None)
    namespace = frame.f_globals
    if name is None or namespace.get("__name__") != name:
        return (_BY_CODE, None)  # no module name, or a wrapper's borrowed one: this frame alone, by code
    module_entry = _modules.get(id(namespace))
    if module_entry is None:
        module_entry = _module_entry(frame, config)
    entry = _names[name] = module_entry[1:]
    return entry


def call_site_at(depth: int) -> tuple[tuple[Any, ...], str | None]:
    """``call_site(sys._getframe(depth))`` as seen from the caller, with the stack flat (file, line,
    function, file, ...), as a call keeps it: in C where the extension is built (``_callsite.c``), else in
    Python by module name where Python can (3.12+, :func:`_call_site_by_name`), else by frame object."""
    if _frame_module_name is None:
        flat: list[Any] = []
        via = _walk(sys._getframe(depth + 1), get_config(), flat, None)
        return tuple(flat), via
    return _call_site_by_name(depth + 1)


def _call_site_by_name(depth: int) -> tuple[tuple[Any, ...], str | None]:
    """The walk for ``call_site_at``, reading frames by module name: ``depth`` counts from this function's
    caller.

    A frame of a module classified as a whole (the standard library, Django, a third-party package) is
    known by its module name, read by ``sys._getframemodulename`` without making a frame object; frame
    objects are made only for the frames of modules that go by code object (the project's own, the stop
    codes'). A function's module name is its ``__module__``, and a wrapper made with
    ``functools.wraps`` carries the wrapped function's: the project's own modules go by code object, so a
    library's wrapper around a project function is still the library's, while a project's wrapper around a
    library function is taken for the library.
    """
    module_name = _frame_module_name
    config = get_config()
    names = _names
    stack: list[Any] = []
    via: str | None = None
    depth += 1
    # Reading frame ``depth`` by name starts from the innermost frame each time: past the first frames (an
    # SDK's stack can be forty deep: Elasticsearch over elastic-transport over urllib3), the walk goes on by
    # frame object, one step per frame.
    last = depth + _BY_NAME_STEPS
    while depth < last:
        name = module_name(depth)
        kind, detail = names.get(name) or _entry_by_name(name, depth, config)
        if kind == _BY_CODE:
            frame = sys._getframe(depth)
            _, kind, detail, function = _code_entry(frame, config)
            if kind == _PROJECT:
                stack += (detail, frame.f_lineno, function)
                if len(stack) >= _FLAT_MAX:
                    return tuple(stack), via
        if kind == _THIRD:
            if not stack:
                via = detail
        elif kind == _STOP:
            return tuple(stack), via
        depth += 1
    try:
        frame = sys._getframe(depth)
    except ValueError:  # past the outermost frame
        return tuple(stack), via
    via = _walk(frame, config, stack, via)
    return tuple(stack), via


# Frames read by module name before the walk goes on by frame object (see ``call_site_at``).
_BY_NAME_STEPS = 12


def _c_walk() -> Any:
    """The C walk (``_callsite.c``) set up on this module's caches, or None: not built, or turned off by
    the environment variable ``ASYNC_AUDIT_PURE_PYTHON`` (for comparing the two)."""
    if os.environ.get("ASYNC_AUDIT_PURE_PYTHON"):
        return None
    try:
        from async_audit.record import _callsite
    except ImportError:
        return None
    try:
        _callsite.configure(
            _modules,
            _cache,
            lambda code, namespace: _module_entry(_Seen(code, namespace), get_config()),  # type: ignore[arg-type]
            lambda code, namespace: _code_entry(_Seen(code, namespace), get_config()),  # type: ignore[arg-type]
            MAX_STACK,
        )
    except Exception as error:  # a module built from other sources: the walk in Python, never a broken import
        report_internal_error(error)
        return None
    global _forget_in_c
    _forget_in_c = _callsite.clear
    return _callsite.walk


class _Seen:
    """What the classifiers read of a frame, as the C walk gives it: it makes no frame object."""

    __slots__ = ("f_code", "f_globals")

    def __init__(self, code: CodeType, namespace: dict[str, Any]) -> None:
        self.f_code = code
        self.f_globals = namespace


_python_call_site_at = call_site_at
# Called with the caller's depth as is: the C function has no frame of its own.
call_site_at = _c_walk() or _python_call_site_at


# Private to Django (and to its type stubs) but present in every supported version; tests pin them.
for _name in ("_get_response", "_get_response_async"):
    add_stop_code(getattr(BaseHandler, _name).__code__)
