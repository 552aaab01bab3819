"""The scanned project: its files, module names, and name resolution across modules.

A name in one module is resolved to *parts* (``("requests", "post")``, ``("crm", "push_contact")``) by
expanding imports, local variables bound to a call (``client = httpx.Client()``), ``self`` attributes set in
the class, and module-level objects; parts that land in the project are then looked up as functions, classes,
methods and instances, following re-exports and module-level objects of the modules they pass through.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from async_audit.scan.index import ClassInfo, FunctionInfo, ModuleIndex

Parts = tuple[str, ...]

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "__pycache__",
        "node_modules",
        "site-packages",
        "dist-packages",
        "migrations",  # RunPython code runs in deploys, never in a request
        "htmlcov",
        "LC_MESSAGES",  # translations: hundreds of folders in a large project, never any Python
        "static",
    }
)
_MAX_RESOLVE = 12  # hops through variables, globals and re-exports


def discover(root: Path) -> Iterator[Path]:
    """Every ``.py`` file under ``root`` except virtualenvs, VCS and cache folders and migrations."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        if directory != root and any(e.name == "pyvenv.cfg" for e in entries):
            continue
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in _SKIP_DIRS and not entry.name.startswith("."):
                        subdirs.append(Path(entry.path))
                elif entry.name.endswith(".py") and entry.is_file():
                    yield Path(entry.path)
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def module_names(root: Path, path: Path, package_dirs: dict[str, bool]) -> tuple[list[str], bool]:
    """Importable names for ``path``: through its packages, and relative to ``root``; is it a package?"""
    root_text = str(root)
    path_text = str(path)

    def is_package(directory: str) -> bool:
        known = package_dirs.get(directory)
        if known is None:
            known = package_dirs[directory] = os.path.isfile(os.path.join(directory, "__init__.py"))
        return known

    directory, filename = os.path.split(path_text)
    is_init = filename == "__init__.py"
    parts = [] if is_init else [filename[:-3]]
    while is_package(directory):
        parent, name = os.path.split(directory)
        parts.insert(0, name)
        if directory == root_text or parent == directory:
            break
        directory = parent
    names = [".".join(parts)] if parts else []
    relative = os.path.relpath(path_text, root_text)[:-3].split(os.sep)
    if relative[-1] == "__init__":
        relative = relative[:-1]
    rel_name = ".".join(relative)
    if rel_name and rel_name not in names and all(p.isidentifier() for p in relative):
        names.append(rel_name)
    return [n for n in names if n], is_init


@dataclass
class Target:
    """What resolved parts denote inside the project."""

    kind: str  # "module", "function", "class", "instance", "method", "manager" (Model.objects.<op>)
    module: ModuleIndex | None = None
    function: FunctionInfo | None = None
    cls: ClassInfo | None = None
    rest: Parts = ()  # parts after the object (an instance's method name, a manager operation)


@dataclass
class Resolved:
    """A callee or value: its parts, the constructor calls behind each "()", and what it is in the project."""

    parts: Parts
    ctors: tuple[ast.Call, ...] = ()
    target: Target | None = None


@dataclass
class Project:
    """All indexed modules of the scanned tree, by every importable name."""

    root: Path
    modules: dict[str, ModuleIndex] = field(default_factory=dict)
    _canonical_cache: dict[Parts, tuple[Parts, tuple[ast.Call, ...], Target | None]] = field(
        default_factory=dict, repr=False
    )
    _unique: list[ModuleIndex] | None = field(default=None, repr=False)
    _bases: dict[int, list[ClassInfo | Parts]] = field(default_factory=dict, repr=False)
    _mro: dict[int, list[ClassInfo]] = field(default_factory=dict, repr=False)
    _outside: dict[int, set[str]] = field(default_factory=dict, repr=False)

    def add(self, module: ModuleIndex, names: list[str]) -> None:
        self._unique = None
        for name in names:
            self.modules.setdefault(name, module)

    def unique_modules(self) -> list[ModuleIndex]:
        """Each module once (a module may be known by several names), by path."""
        if self._unique is None:
            seen: dict[int, ModuleIndex] = {}
            for module in self.modules.values():
                seen.setdefault(id(module), module)
            self._unique = sorted(seen.values(), key=lambda m: m.rel)
        return self._unique

    # -- resolving expressions ---------------------------------------------------------------------------

    def resolve(self, expr: ast.expr, module: ModuleIndex, func: FunctionInfo | None) -> Resolved | None:
        """Resolve an expression (usually a callee) seen in ``func`` (or at module level) of ``module``."""
        raw = self._raw(expr, module, func, 0)
        if raw is None:
            return None
        parts, ctors = raw
        return self.canonical(parts, ctors)

    def _raw(  # noqa: C901 - one case per expression shape
        self, expr: ast.expr, module: ModuleIndex, func: FunctionInfo | None, depth: int
    ) -> tuple[Parts, tuple[ast.Call, ...]] | None:
        if depth > _MAX_RESOLVE:
            return None
        if isinstance(expr, ast.Name):
            name = expr.id
            scope = func
            while scope is not None:
                made = scope.local_types.get(name)
                if made is not None and made.func is not expr:
                    inner = self._raw(made.func, module, scope, depth + 1)
                    return None if inner is None else ((*inner[0], "()"), (*inner[1], made))
                nested = scope.nested.get(name)
                if nested is not None:
                    return (*module.name.split("."), *nested.qualname.split(".")), ()
                scope = scope.parent
            if name in ("self", "cls") and func is not None and func.cls is not None:
                cls_parts = (*module.name.split("."), *func.cls.qualname.split("."))
                return ((*cls_parts, "()") if name == "self" else cls_parts), ()
            imported = module.imports.get(name)
            if imported is not None:
                return imported, ()
            if name in module.functions or name in module.classes or name in module.globals:
                return (*module.name.split("."), name), ()
            return (name,), ()
        if isinstance(expr, ast.Attribute):
            value = expr.value
            if (
                isinstance(value, ast.Name)
                and value.id == "self"
                and func is not None
                and func.cls is not None
                and expr.attr in func.cls.self_types
            ):
                made = func.cls.self_types[expr.attr]
                owner = next(iter(func.cls.methods.values()), func)
                inner = self._raw(made.func, module, owner, depth + 1)
                return None if inner is None else ((*inner[0], "()"), (*inner[1], made))
            base = self._raw(value, module, func, depth + 1)
            return None if base is None else ((*base[0], expr.attr), base[1])
        if isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Name) and expr.func.id == "super" and func is not None and func.cls:
                return (*module.name.split("."), *func.cls.qualname.split("."), "<super>"), ()
            base = self._raw(expr.func, module, func, depth + 1)
            return None if base is None else ((*base[0], "()"), (*base[1], expr))
        if isinstance(expr, ast.Subscript):
            base = self._raw(expr.value, module, func, depth + 1)
            return None if base is None else ((*base[0], "[]"), base[1])
        if isinstance(expr, ast.Await):
            return self._raw(expr.value, module, func, depth + 1)
        return None

    def canonical(self, parts: Parts, ctors: tuple[ast.Call, ...] = (), depth: int = 0) -> Resolved:
        """Follow parts through the project's modules: re-exports, module-level objects, classes, methods."""
        known = self._canonical_cache.get(parts)
        if known is None:
            known = self._canonical(parts, depth)
            if depth == 0:
                self._canonical_cache[parts] = known
        out, prefix, target = known
        return Resolved(out, (*prefix, *ctors) if prefix else ctors, target)

    def _canonical(  # noqa: C901 - one case per kind of module member
        self, parts: Parts, depth: int
    ) -> tuple[Parts, tuple[ast.Call, ...], Target | None]:
        split = self._module_prefix(parts)
        if split is None or depth > _MAX_RESOLVE:
            return parts, (), None
        module, rest = split
        if not rest:
            return parts, (), Target("module", module=module)
        head, tail = rest[0], rest[1:]
        func = module.functions.get(head)
        while func is not None and len(tail) >= 2 and tail[0] == "<locals>":
            # A function defined inside another: functions are indexed by qualified name.
            nested = module.functions.get(f"{func.qualname}.<locals>.{tail[1]}")
            if nested is None:
                break
            func, tail = nested, tail[2:]
        if func is not None:
            if not tail:
                return parts, (), Target("function", module=module, function=func)
            if tail[0] == "()" and len(tail) > 1:
                made = self.returns(func, depth)
                if made is not None:
                    out, prefix, target = self._canonical((*made[0], *tail[1:]), depth + 1)
                    return out, (*prefix, *made[1]), target
            return parts, (), Target("function", module=module, function=func, rest=tail)
        cls = module.classes.get(head)
        if cls is not None:
            return parts, (), self._in_class(cls, tail)
        imported = module.imports.get(head)
        if imported is not None and imported != parts[: len(imported)]:
            return self._canonical((*imported, *tail), depth + 1)
        value = module.globals.get(head)
        if isinstance(value, ast.Call):
            raw = self._raw(value.func, module, None, depth + 1)
            if raw is not None:
                out, prefix, target = self._canonical((*raw[0], "()", *tail), depth + 1)
                return out, (*prefix, *raw[1], value), target
        elif isinstance(value, (ast.Name, ast.Attribute)):
            raw = self._raw(value, module, None, depth + 1)
            if raw is not None and raw[0] != parts[: len(raw[0])]:
                out, prefix, target = self._canonical((*raw[0], *tail), depth + 1)
                return out, (*prefix, *raw[1]), target
        return parts, (), None

    def returns(self, func: FunctionInfo, depth: int = 0) -> tuple[Parts, tuple[ast.Call, ...]] | None:
        """What a project function returns, when it says so: its return annotation, or the one call it
        returns (``def get_client(): return Elasticsearch(...)``); the parts end with ``"()"``."""
        annotation = func.node.returns
        if isinstance(annotation, (ast.Name, ast.Attribute)):
            raw = self._raw(annotation, func.module, None, depth + 1)
            if raw is not None and raw[0][-1] not in ("None", "str", "int", "bool", "dict", "list", "Any"):
                return (*raw[0], "()"), raw[1]
        returned = [
            node.value
            for node in ast.walk(func.node)
            if isinstance(node, ast.Return) and node.value is not None
        ]
        if len(returned) == 1 and isinstance(returned[0], ast.Call):
            raw = self._raw(returned[0], func.module, func, depth + 1)
            if raw is not None:
                return raw
        return None

    def _in_class(self, cls: ClassInfo, tail: Parts) -> Target:
        if not tail:
            return Target("class", module=cls.module, cls=cls)
        if tail == ("()",):
            return Target("instance", module=cls.module, cls=cls)
        if tail[0] == "()" or tail[0] == "<super>":
            name = tail[1] if len(tail) > 1 else ""
            method = self.method(cls, name, skip_self=tail[0] == "<super>")
            if method is not None and len(tail) == 2:
                return Target("method", module=method.module, function=method, cls=cls)
            if tail[0] == "()" and len(tail) > 1 and tail[1] in cls.self_types:
                return Target("instance", module=cls.module, cls=cls, rest=tail[1:])
            return Target("instance", module=cls.module, cls=cls, rest=tail[1:])
        if tail[0] == "objects" and len(tail) >= 2:
            return Target("manager", module=cls.module, cls=cls, rest=tail[1:])
        method = self.method(cls, tail[0])
        if method is not None and len(tail) == 1:
            return Target("method", module=method.module, function=method, cls=cls)
        return Target("class", module=cls.module, cls=cls, rest=tail)

    def _module_prefix(self, parts: Parts) -> tuple[ModuleIndex, Parts] | None:
        for cut in range(len(parts), 0, -1):
            module = self.modules.get(".".join(parts[:cut]))
            if module is not None:
                return module, parts[cut:]
        return None

    # -- classes -----------------------------------------------------------------------------------------

    def bases(self, cls: ClassInfo) -> list[ClassInfo | Parts]:
        """Direct bases: project classes, or the parts of an outside class."""
        known = self._bases.get(id(cls))
        if known is not None:
            return known
        found: list[ClassInfo | Parts] = []
        self._bases[id(cls)] = found
        for base in cls.node.bases:
            resolved = self.resolve(base, cls.module, None)
            if resolved is None:
                continue
            target = resolved.target
            if target is not None and target.kind == "class" and target.cls is not None and not target.rest:
                if target.cls is not cls:
                    found.append(target.cls)
            else:
                found.append(resolved.parts)
        return found

    def mro(self, cls: ClassInfo) -> list[ClassInfo]:
        """The class and its project bases, breadth first, each once."""
        known = self._mro.get(id(cls))
        if known is not None:
            return known
        order: list[ClassInfo] = []
        stack = [cls]
        while stack and len(order) < 50:
            current = stack.pop(0)
            if current in order:
                continue
            order.append(current)
            stack.extend(b for b in self.bases(current) if isinstance(b, ClassInfo))
        self._mro[id(cls)] = order
        return order

    def outside_bases(self, cls: ClassInfo) -> set[str]:
        """Dotted names of every outside class the class derives from (through project bases)."""
        known = self._outside.get(id(cls))
        if known is not None:
            return known
        names: set[str] = set()
        for current in self.mro(cls):
            for base in self.bases(current):
                if not isinstance(base, ClassInfo):
                    names.add(".".join(base))
        self._outside[id(cls)] = names
        return names

    def method(self, cls: ClassInfo, name: str, skip_self: bool = False) -> FunctionInfo | None:
        for current in self.mro(cls)[1 if skip_self else 0 :]:
            found = current.methods.get(name)
            if found is not None:
                return found
        return None

    # -- constants ---------------------------------------------------------------------------------------

    def identifiers(self, expr: ast.expr, func: FunctionInfo | None, depth: int = 0) -> list[str]:
        """Names an expression is built from, through local variables (``url`` -> ``SLACK_WEBHOOK_URL``)."""
        if depth > 4:
            return []
        if isinstance(expr, ast.Name):
            found = [expr.id]
            if func is not None and expr.id in func.local_values:
                found += self.identifiers(func.local_values[expr.id], func, depth + 1)
            return found
        if isinstance(expr, ast.Attribute):
            return [expr.attr, *self.identifiers(expr.value, func, depth + 1)]
        found = []
        for child in ast.iter_child_nodes(expr):
            if isinstance(child, ast.expr):
                found += self.identifiers(child, func, depth + 1)
        return found

    def constant(  # noqa: C901 - one case per expression shape
        self,
        expr: ast.expr,
        module: ModuleIndex,
        settings: ModuleIndex | None,
        depth: int = 0,
        func: FunctionInfo | None = None,
    ) -> str | None:
        """The string ``expr`` holds, as far as the source shows it; f-string holes become ``{}``."""
        if depth > 4:
            return None
        if isinstance(expr, ast.Constant):
            return expr.value if isinstance(expr.value, str) else None
        if isinstance(expr, ast.JoinedStr):
            pieces = []
            for value in expr.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    pieces.append(value.value)
                else:
                    inner = value.value if isinstance(value, ast.FormattedValue) else None
                    known = (
                        self.constant(inner, module, settings, depth + 1, func) if inner is not None else None
                    )
                    pieces.append(known if known is not None else "{}")
            return "".join(pieces)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Mod)):
            left = self.constant(expr.left, module, settings, depth + 1, func)
            if left is None:
                return None
            if isinstance(expr.op, ast.Mod):
                return left
            right = self.constant(expr.right, module, settings, depth + 1, func)
            return left + (right if right is not None else "{}")
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "format":
            return self.constant(expr.func.value, module, settings, depth + 1, func)
        if isinstance(expr, (ast.Name, ast.Attribute)):
            return self._named_constant(expr, module, settings, depth, func)
        return None

    def _named_constant(
        self,
        expr: ast.Name | ast.Attribute,
        module: ModuleIndex,
        settings: ModuleIndex | None,
        depth: int,
        func: FunctionInfo | None,
    ) -> str | None:
        """A local or module constant, an imported one, or ``settings.NAME`` from the settings module."""
        if isinstance(expr, ast.Attribute):
            if isinstance(expr.value, ast.Name) and expr.value.id == "settings" and settings is not None:
                found = settings.globals.get(expr.attr)
                return None if found is None else self.constant(found, settings, settings, depth + 1)
            return None
        local = func.local_values.get(expr.id) if func is not None else None
        if local is not None:
            return self.constant(local, module, settings, depth + 1, func)
        value = module.globals.get(expr.id)
        if value is not None:
            return self.constant(value, module, settings, depth + 1)
        imported = module.imports.get(expr.id)
        if imported is not None:
            split = self._module_prefix(imported)
            if split is not None and len(split[1]) == 1 and split[0] is not module:
                value = split[0].globals.get(split[1][0])
                return None if value is None else self.constant(value, split[0], settings, depth + 1)
        return None
