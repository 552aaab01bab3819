"""Reading and parsing the audited project's Python files, once each.

Every file is read as bytes and handed to :func:`ast.parse`, which honours PEP 263 coding declarations; a file
that cannot be decoded or parsed (another encoding without a declaration, syntax from a newer Python, a
template with a ``.py`` name) yields ``None`` and the caller counts it as skipped.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class ParsedModule:
    """One parsed file, with lazily built lookups over its tree."""

    path: Path
    tree: ast.Module
    lines: int
    _parents: dict[ast.AST, ast.AST] | None = field(default=None, repr=False)
    _defs: list[tuple[str, FunctionNode]] | None = field(default=None, repr=False)

    @property
    def parents(self) -> dict[ast.AST, ast.AST]:
        """Child node -> parent node over the whole module."""
        if self._parents is None:
            parents: dict[ast.AST, ast.AST] = {}
            for node in ast.walk(self.tree):
                for child in ast.iter_child_nodes(node):
                    parents[child] = node
            self._parents = parents
        return self._parents

    def functions(self) -> list[tuple[str, FunctionNode]]:
        """Every function and method with its qualified name (``Class.method``, ``outer.<locals>.inner``)."""
        if self._defs is None:
            defs: list[tuple[str, FunctionNode]] = []
            _collect_defs(self.tree, "", defs)
            self._defs = defs
        return self._defs

    def function_at(self, line: int, name: str | None) -> FunctionNode | None:
        """The innermost function holding ``line``, named ``name`` (plain or qualified) when given."""
        best: FunctionNode | None = None
        for qualname, node in self.functions():
            end = node.end_lineno or node.lineno
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if not start <= line <= end:
                continue
            if name is not None and name not in (node.name, qualname) and not qualname.endswith("." + name):
                continue
            if best is None or node.lineno >= best.lineno:
                best = node
        return best


def _collect_defs(node: ast.AST, prefix: str, out: list[tuple[str, FunctionNode]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            qualname = prefix + child.name
            out.append((qualname, child))
            _collect_defs(child, qualname + ".<locals>.", out)
        elif isinstance(child, ast.ClassDef):
            _collect_defs(child, prefix + child.name + ".", out)
        elif not isinstance(child, ast.expr):
            _collect_defs(child, prefix, out)


def parse_source(data: bytes, path: Path) -> ast.Module | None:
    """Parse ``data``; ``None`` when it is not Python this interpreter can read."""
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences in old code are warnings, which the audited project's problem is not.
            warnings.simplefilter("ignore")
            return ast.parse(data, filename=str(path))
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return None


def count_lines(data: bytes) -> int:
    """Lines in a file, counting a last line without a newline."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many AST objects.

    Parsing allocates hundreds of thousands of acyclic nodes, each allocation counting towards a collection
    that finds nothing to free; pausing it makes parsing two to three times faster. Reference counting still
    frees every tree as soon as it is dropped.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ModuleCache:
    """Parsed modules by path, re-parsed when the file changes; bounded, least recently used first out."""

    def __init__(self, maxsize: int = 256) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[Path, tuple[int, int, ParsedModule | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> ParsedModule | None:
        """The parsed module at ``path``; ``None`` when it is missing, unreadable or unparseable."""
        try:
            stat = path.stat()
        except OSError:
            return None
        key = path.resolve()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stat.st_mtime_ns and entry[1] == stat.st_size:
                self._entries.move_to_end(key)
                return entry[2]
        try:
            data = path.read_bytes()
        except OSError:
            return None
        tree = parse_source(data, path)
        module = None if tree is None else ParsedModule(path=key, tree=tree, lines=count_lines(data))
        with self._lock:
            self._entries[key] = (stat.st_mtime_ns, stat.st_size, module)
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return module

    def put(self, module: ParsedModule, mtime_ns: int, size: int) -> None:
        """Remember a module parsed elsewhere (the scanner parses every file once and shares them)."""
        with self._lock:
            self._entries[module.path] = (mtime_ns, size, module)
            self._entries.move_to_end(module.path)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
