"""The ``ASYNC_AUDIT`` setting: defaults, validation, and a cached, parsed view of it.

Read once, refreshed on ``setting_changed``. Problems are reported by the system checks in
:mod:`async_audit.checks`; at run time a bad value falls back to its default, because a recorder must never
crash a request over its own configuration.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

logger = logging.getLogger("async_audit")

DEFAULTS: dict[str, Any] = {
    # Record at all. Off: the middleware and every hook fall straight through.
    "ENABLED": True,
    # Where the file sink writes one JSONL file per process. Default: <BASE_DIR>/async-audit.
    "OUTPUT_DIR": None,
    # "file", or "log" for hosts with ephemeral disks (Heroku): lines go to the "async_audit.records" logger.
    "SINK": "file",
    # Share of requests recorded, 0.0 to 1.0.
    "SAMPLE_RATE": 1.0,
    # Requests slower than this are recorded even when sampling left them out; None turns this off.
    "ALWAYS_RECORD_SLOWER_THAN_MS": 1000.0,
    # Directories, or names of installed packages, holding the project's own code. Default: BASE_DIR.
    "PROJECT_ROOTS": None,
    # SQL statements slower than this are recorded as calls (every statement is counted in "db").
    "SLOW_SQL_MS": 100.0,
    # Calls recorded per request; more are counted in "dropped".
    "MAX_CALLS_PER_REQUEST": 200,
    # Request paths not recorded: prefixes, or regular expressions when they start with "^".
    "IGNORE_PATHS": ["/static/", "/media/", "/favicon.ico"],
    # Hooks to install: None for every default hook whose library is installed, or a list of names.
    "HOOKS": None,
    # Records waiting for the writer thread; past this they are dropped and counted, never waited on.
    "QUEUE_SIZE": 10_000,
    # The file sink starts a new file past this size.
    "MAX_FILE_MB": 256,
}

SINKS = ("file", "log")


@dataclass(frozen=True)
class Problem:
    """A configuration problem, as a system check reports it."""

    id: str
    level: str  # "error" or "warning"
    msg: str
    hint: str | None = None
    key: str | None = None  # the ASYNC_AUDIT key at fault


@dataclass(frozen=True)
class ProjectRoot:
    """A place holding project code: files under ``path`` are reported relative to ``relative_to``."""

    path: str
    relative_to: str
    package: str | None = None


@dataclass(frozen=True)
class Config:
    enabled: bool
    output_dir: Path
    sink: str
    sample_rate: float
    always_record_slower_than_ms: float | None
    project_roots: tuple[ProjectRoot, ...]
    slow_sql_ms: float
    max_calls_per_request: int
    ignore_prefixes: tuple[str, ...]
    ignore_patterns: tuple[re.Pattern[str], ...]
    hooks: tuple[str, ...] | None
    queue_size: int
    max_file_bytes: int
    problems: tuple[Problem, ...] = field(default=())

    def ignores(self, path: str) -> bool:
        if path.startswith(self.ignore_prefixes):
            return True
        # Called on every request: no generator when there are no patterns (the default).
        return bool(self.ignore_patterns) and any(p.match(path) for p in self.ignore_patterns)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(low: int) -> tuple[Any, str]:
    return (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low,
        f"a whole number >= {low}",
    )


# key -> (test of a good value, what a good value is). None is allowed where the default is None.
_SHAPES: dict[str, tuple[Any, str]] = {
    "ENABLED": (lambda v: isinstance(v, bool), "True or False"),
    "OUTPUT_DIR": (lambda v: v is None or isinstance(v, (str, Path)), "a directory path"),
    "SINK": (lambda v: v in SINKS, " or ".join(repr(s) for s in SINKS)),
    "SAMPLE_RATE": (lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a number from 0.0 to 1.0"),
    "ALWAYS_RECORD_SLOWER_THAN_MS": (
        lambda v: v is None or (_is_number(v) and v >= 0),
        "a number of milliseconds (>= 0) or None",
    ),
    "SLOW_SQL_MS": (lambda v: _is_number(v) and v >= 0, "a number of milliseconds (>= 0)"),
    "MAX_CALLS_PER_REQUEST": _whole(0),
    "QUEUE_SIZE": _whole(1),
    "MAX_FILE_MB": _whole(1),
    "IGNORE_PATHS": (
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v),
        "a list of path prefixes or '^' regular expressions",
    ),
    "PROJECT_ROOTS": (
        lambda v: v is None or (isinstance(v, (list, tuple)) and all(isinstance(p, (str, Path)) for p in v)),
        "a list of directories or installed package names",
    ),
    "HOOKS": (
        lambda v: v is None or (isinstance(v, (list, tuple)) and all(isinstance(h, str) for h in v)),
        "None or a list of hook names",
    ),
}


def validate(raw: Any) -> list[Problem]:
    """Every problem with a raw ``ASYNC_AUDIT`` value, with stable ids."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [Problem("async_audit.E001", "error", "ASYNC_AUDIT must be a dict.")]
    problems: list[Problem] = [_unknown_key(key) for key in raw if key not in DEFAULTS]
    for key, (good, what) in _SHAPES.items():
        if key in raw and not good(raw[key]):
            msg = f"ASYNC_AUDIT[{key!r}] must be {what}; got {raw[key]!r}."
            problems.append(Problem("async_audit.E002", "error", msg, key=key))
        elif key in raw and raw[key] is not None:
            problems.extend(_deep_checks(key, raw[key]))
    return problems


def _unknown_key(key: Any) -> Problem:
    text = str(key).upper()
    close = [k for k in DEFAULTS if k.replace("_", "") == text.replace("_", "")]
    close = close or difflib.get_close_matches(text, list(DEFAULTS), n=1, cutoff=0.75)
    hint = f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(sorted(DEFAULTS))}."
    return Problem("async_audit.W001", "warning", f"Unknown ASYNC_AUDIT key {key!r}: it is ignored.", hint)


def _deep_checks(key: str, value: Any) -> list[Problem]:
    """Checks beyond the value's shape: regular expressions compile, roots and hooks exist."""
    problems: list[Problem] = []
    if key == "IGNORE_PATHS":
        for pattern in value:
            if not pattern.startswith("^"):
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                msg = f"ASYNC_AUDIT['IGNORE_PATHS'] has an invalid regular expression {pattern!r}: {exc}."
                problems.append(Problem("async_audit.E003", "error", msg))
    elif key == "PROJECT_ROOTS":
        for entry in value:
            if _resolve_root(entry) is None:
                msg = (
                    f"ASYNC_AUDIT['PROJECT_ROOTS'] entry {str(entry)!r} is neither a directory nor an "
                    "importable package: calls made from it will have no call site."
                )
                problems.append(Problem("async_audit.W002", "warning", msg))
    elif key == "HOOKS":
        from async_audit.record.hooks import HOOKS, hook_available

        for name in value:
            if name not in HOOKS:
                msg = f"ASYNC_AUDIT['HOOKS'] names an unknown hook {name!r}."
                hint = f"Known hooks: {', '.join(sorted(HOOKS))}."
                problems.append(Problem("async_audit.E004", "error", msg, hint))
            elif not hook_available(name):
                msg = f"ASYNC_AUDIT['HOOKS'] asks for {name!r}, but its library is not installed."
                problems.append(Problem("async_audit.E005", "error", msg))
    return problems


def _resolve_root(entry: str | Path) -> ProjectRoot | None:
    text = str(entry)
    path = Path(text).expanduser()
    if path.is_dir():
        real = os.path.realpath(path)
        return ProjectRoot(path=real, relative_to=real)
    if re.fullmatch(r"[A-Za-z_][\w.]*", text):
        try:
            spec = importlib.util.find_spec(text)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        locations = list(spec.submodule_search_locations or [])
        if locations:
            real = os.path.realpath(locations[0])
        elif spec.origin:
            real = os.path.realpath(spec.origin)
        else:
            return None
        # Reported relative to the directory holding the package, so paths read "billing/views.py".
        return ProjectRoot(path=real, relative_to=os.path.dirname(real), package=text)
    return None


def _default_base_dir() -> Path:
    base = getattr(settings, "BASE_DIR", None)
    if base is not None:
        return Path(base)
    return Path.cwd()


def build_config() -> Config:
    """Parse ``settings.ASYNC_AUDIT``; a bad value falls back to its default."""
    raw_setting = getattr(settings, "ASYNC_AUDIT", None)
    problems = validate(raw_setting)
    raw: dict[str, Any] = raw_setting if isinstance(raw_setting, dict) else {}
    bad_keys = {p.key for p in problems if p.id == "async_audit.E002"}
    values = {k: (DEFAULTS[k] if k in bad_keys or k not in raw else raw[k]) for k in DEFAULTS}
    if problems:
        for p in problems:
            logger.warning("%s: %s", p.id, p.msg)

    base_dir = _default_base_dir()
    output_dir = Path(values["OUTPUT_DIR"]) if values["OUTPUT_DIR"] else base_dir / "async-audit"
    roots: list[ProjectRoot] = []
    for entry in values["PROJECT_ROOTS"] or [base_dir]:
        root = _resolve_root(entry)
        if root is not None:
            roots.append(root)
    ignore = list(values["IGNORE_PATHS"])
    patterns = []
    for p in ignore:
        if p.startswith("^"):
            try:
                patterns.append(re.compile(p))
            except re.error:
                pass
    return Config(
        enabled=bool(values["ENABLED"]),
        output_dir=output_dir,
        sink=str(values["SINK"]),
        sample_rate=float(values["SAMPLE_RATE"]),
        always_record_slower_than_ms=(
            None
            if values["ALWAYS_RECORD_SLOWER_THAN_MS"] is None
            else float(values["ALWAYS_RECORD_SLOWER_THAN_MS"])
        ),
        project_roots=tuple(roots),
        slow_sql_ms=float(values["SLOW_SQL_MS"]),
        max_calls_per_request=int(values["MAX_CALLS_PER_REQUEST"]),
        ignore_prefixes=tuple(p for p in ignore if not p.startswith("^")),
        ignore_patterns=tuple(patterns),
        hooks=None if values["HOOKS"] is None else tuple(values["HOOKS"]),
        queue_size=int(values["QUEUE_SIZE"]),
        max_file_bytes=int(values["MAX_FILE_MB"]) * 1024 * 1024,
        problems=tuple(problems),
    )


_config: Config | None = None
_listeners: list[Any] = []


def get_config() -> Config:
    """The parsed settings, built once and cached until ``ASYNC_AUDIT`` or ``BASE_DIR`` change."""
    global _config
    config = _config
    if config is None:
        config = _config = build_config()
    return config


def on_config_change(listener: Any) -> None:
    """Call ``listener()`` after the cached settings were dropped (the frame classifier caches by root)."""
    _listeners.append(listener)


def reset_config() -> None:
    global _config
    _config = None
    for listener in _listeners:
        listener()


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("ASYNC_AUDIT", "BASE_DIR"):
        reset_config()


setting_changed.connect(_setting_changed, dispatch_uid="async_audit.conf")
