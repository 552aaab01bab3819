"""What a generated task is, apart from the backend that runs it.

A :class:`TaskSpec` is worked out once per finding (from the real call site when the source is there, from
the finding's facts otherwise), then rendered by any backend's
:class:`~async_audit.extract.base.StubGenerator`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

# The same order ruff's isort rules expect: standard library, third party, the project's own packages.
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {
    "functools",
    "json",
    "logging",
    "smtplib",
    "typing",
    "uuid",
}


@dataclass(frozen=True)
class ModelRef:
    """The model class a task looks an object up in."""

    expr: str  # how the task body names the class: "User", "user_model"
    module: str | None  # where to import ``expr`` from; None: ``get_user_model()``
    uuid_pk: bool = False  # the primary key is a UUID: passed as ``str()``
    verified: bool = True  # False when the class was guessed from the variable's name
    imported: str | None = None  # the name to import when ``expr`` is dotted ("models" for "models.Order")

    def import_spec(self) -> ImportSpec | None:
        if self.module is None:
            return ImportSpec("django.contrib.auth", "get_user_model")
        if self.imported == "":
            return ImportSpec(self.module)
        return ImportSpec(self.module, self.imported or self.expr.split(".")[0])


@dataclass
class Param:
    """One argument of the task: JSON-safe by construction."""

    name: str
    annotation: str  # "int", "str", "list[str]", "Any"
    value: str  # the expression the call site passes
    model: ModelRef | None = None  # set for primary keys: the task looks the object up afresh
    local: str | None = None  # the name the looked-up object is bound to in the task body
    default: str | None = None  # a default in the task's signature ("None")
    help: str = ""


@dataclass(frozen=True)
class ImportSpec:
    """``from module import name`` (``name`` None: ``import module``)."""

    module: str
    name: str | None = None
    asname: str | None = None

    def line(self) -> str:
        alias = f" as {self.asname}" if self.asname else ""
        if self.name is None:
            return f"import {self.module}{alias}"
        return f"from {self.module} import {self.name}{alias}"


@dataclass
class TaskSpec:
    """A background task, ready to be rendered for one backend."""

    name: str
    module: str  # dotted module the task lives in ("accounts.tasks")
    path: str  # that module's file, relative to the project root ("accounts/tasks.py")
    summary: str  # first docstring line
    origin: str  # "accounts/views.py:41 in signup"
    category: str
    params: list[Param] = field(default_factory=list)
    body: str = ""  # the work, dedented; runs after the lookups
    prelude: list[str] = field(default_factory=list)  # locals rebuilt before the work (a context dict)
    imports: list[ImportSpec] = field(default_factory=list)  # module-level imports the body needs
    local_imports: list[ImportSpec] = field(default_factory=list)  # imported inside the task (cycles)
    retry_on: list[str] = field(default_factory=lambda: ["OSError"])  # exception class expressions
    idempotency: str = ""  # the note on why and how the work must be safe to run twice
    notes: list[str] = field(default_factory=list)  # caveats a person must read
    first_party: frozenset[str] = frozenset()  # top-level packages of the audited project

    @property
    def pk_params(self) -> list[Param]:
        return [p for p in self.params if p.model is not None]

    @property
    def command_name(self) -> str:
        return f"run_{self.name}"

    @property
    def package(self) -> str:
        return self.module.rpartition(".")[0]

    @property
    def command_path(self) -> str:
        base = self.path.rpartition("/")[0]
        prefix = f"{base}/" if base else ""
        return f"{prefix}management/commands/{self.command_name}.py"


def identifier(text: str, fallback: str = "value") -> str:
    """A lower-case Python identifier made from ``text``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    name = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower()
    if not name:
        return fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    return name


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when it is taken; records the result in ``taken``."""
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


def member_key(name: str) -> tuple[int, str]:
    # ruff's isort default (order-by-type): CONSTANTS, then Classes, then everything else.
    if name.isupper() and len(name) > 1:
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    return kind, name.lower()


def import_block(imports: list[ImportSpec], first_party: frozenset[str], indent: str = "") -> str:
    """Imports as isort lays them out: sections, plain imports first, one ``from`` line per module."""
    sections: dict[int, list[ImportSpec]] = {0: [], 1: [], 2: []}
    for spec in dict.fromkeys(imports):
        top = spec.module.split(".")[0]
        if spec.module.startswith("."):
            section = 2
        elif top in STDLIB:
            section = 0
        elif top in first_party:
            section = 2
        else:
            section = 1
        sections[section].append(spec)
    blocks: list[str] = []
    for section in (0, 1, 2):
        specs = sections[section]
        if not specs:
            continue
        lines: list[str] = []
        plain = sorted({s for s in specs if s.name is None}, key=lambda s: (s.module.lower(), s.asname or ""))
        lines.extend(indent + s.line() for s in plain)
        modules: dict[str, list[ImportSpec]] = {}
        for s in specs:
            if s.name is not None:
                modules.setdefault(s.module, []).append(s)
        for module in sorted(modules, key=lambda m: m.lower()):
            members = sorted(
                {(s.name or "") + (f" as {s.asname}" if s.asname else "") for s in modules[module]},
                key=member_key,
            )
            lines.extend(from_lines(module, members, indent))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def from_lines(module: str, members: list[str], indent: str = "", width: int = 100) -> list[str]:
    line = f"{indent}from {module} import {', '.join(members)}"
    if len(line) <= width:
        return [line]
    inner = [f"{indent}    {m}," for m in members]
    return [f"{indent}from {module} import (", *inner, f"{indent})"]
