"""The ``ASYNC_AUDIT`` setting: defaults, validation, and a cached, parsed view of it.

Read once, refreshed on ``setting_changed``. Problems are reported by the system checks in
:mod:`async_audit.checks`; at run time a bad value falls back to its default, because a recorder must never
crash a request over its own configuration.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
import sysconfig
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
        return any(p.match(path) for p in self.ignore_patterns)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(raw: Any) -> list[Problem]:
    """Every problem with a raw ``ASYNC_AUDIT`` value, with stable ids."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [Problem("async_audit.E001", "error", "ASYNC_AUDIT must be a dict.")]
    problems: list[Problem] = []
    for key in raw:
        if key not in DEFAULTS:
            close = [k for k in DEFAULTS if k.replace("_", "") == str(key).upper().replace("_", "")]
            problems.append(
                Problem(
                    "async_audit.W001",
                    "warning",
                    f"Unknown ASYNC_AUDIT key {key!r}: it is ignored.",
                    f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                )
            )

    def bad(key: str, what: str) -> None:
        problems.append(
            Problem("async_audit.E002", "error", f"ASYNC_AUDIT[{key!r}] must be {what}; got {raw[key]!r}.")
        )

    if "ENABLED" in raw and not isinstance(raw["ENABLED"], bool):
        bad("ENABLED", "True or False")
    if "OUTPUT_DIR" in raw and raw["OUTPUT_DIR"] is not None and not isinstance(raw["OUTPUT_DIR"], (str, Path)):
        bad("OUTPUT_DIR", "a directory path")
    if "SINK" in raw and raw["SINK"] not in SINKS:
        bad("SINK", " or ".join(repr(s) for s in SINKS))
    if "SAMPLE_RATE" in raw and not (_is_number(raw["SAMPLE_RATE"]) and 0.0 <= raw["SAMPLE_RATE"] <= 1.0):
        bad("SAMPLE_RATE", "a number from 0.0 to 1.0")
    for key in ("ALWAYS_RECORD_SLOWER_THAN_MS",):
        if key in raw and raw[key] is not None and not (_is_number(raw[key]) and raw[key] >= 0):
            bad(key, "a number of milliseconds (>= 0) or None")
    if "SLOW_SQL_MS" in raw and not (_is_number(raw["SLOW_SQL_MS"]) and raw["SLOW_SQL_MS"] >= 0):
        bad("SLOW_SQL_MS", "a number of milliseconds (>= 0)")
    for key, low in (("MAX_CALLS_PER_REQUEST", 0), ("QUEUE_SIZE", 1), ("MAX_FILE_MB", 1)):
        if key in raw and not (isinstance(raw[key], int) and not isinstance(raw[key], bool) and raw[key] >= low):
            bad(key, f"a whole number >= {low}")
    if "IGNORE_PATHS" in raw:
        value = raw["IGNORE_PATHS"]
        if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
            bad("IGNORE_PATHS", "a list of path prefixes or '^' regular expressions")
        else:
            for pattern in value:
                if pattern.startswith("^"):
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        problems.append(
                            Problem(
                                "async_audit.E003",
                                "error",
                                f"ASYNC_AUDIT['IGNORE_PATHS'] has an invalid regular expression {pattern!r}: {exc}.",
                            )
                        )
    if "PROJECT_ROOTS" in raw and raw["PROJECT_ROOTS"] is not None:
        value = raw["PROJECT_ROOTS"]
        if not isinstance(value, (list, tuple)) or not all(isinstance(p, (str, Path)) for p in value):
            bad("PROJECT_ROOTS", "a list of directories or installed package names")
        else:
            for entry in value:
                if _resolve_root(entry) is None:
                    problems.append(
                        Problem(
                            "async_audit.W002",
                            "warning",
                            f"ASYNC_AUDIT['PROJECT_ROOTS'] entry {str(entry)!r} is neither a directory nor an "
                            "importable package: calls made from it will have no call site.",
                        )
                    )
    if "HOOKS" in raw and raw["HOOKS"] is not None:
        value = raw["HOOKS"]
        if not isinstance(value, (list, tuple)) or not all(isinstance(h, str) for h in value):
            bad("HOOKS", "None or a list of hook names")
        else:
            from async_audit.record.hooks import HOOKS, hook_available

            for name in value:
                if name not in HOOKS:
                    problems.append(
                        Problem(
                            "async_audit.E004",
                            "error",
                            f"ASYNC_AUDIT['HOOKS'] names an unknown hook {name!r}.",
                            f"Known hooks: {', '.join(sorted(HOOKS))}.",
                        )
                    )
                elif not hook_available(name):
                    problems.append(
                        Problem(
                            "async_audit.E005",
                            "error",
                            f"ASYNC_AUDIT['HOOKS'] asks for {name!r}, but the library it instruments is not "
                            "installed.",
                        )
                    )
    return problems


def _site_dirs() -> tuple[str, ...]:
    paths = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib")}
    paths.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(sorted(os.path.realpath(p) for p in paths if p))


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
        parent = os.path.dirname(real) if locations else os.path.dirname(real)
        return ProjectRoot(path=real, relative_to=parent, package=text)
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
    bad_keys = {p.msg.split("'")[1] for p in problems if p.level == "error" and p.msg.startswith("ASYNC_AUDIT[")}
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
            None if values["ALWAYS_RECORD_SLOWER_THAN_MS"] is None else float(values["ALWAYS_RECORD_SLOWER_THAN_MS"])
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
