"""Does a call's result reach the response? A small, conservative data-flow analysis over ``ast``.

A call whose value the customer never sees (a bare ``send_mail(...)``, a webhook whose response is only
logged) can move into a background task; a call whose value is rendered, redirected to, returned, put into a
template context or tested to choose the response cannot. The analysis follows the value upwards through
expressions (attributes, subscripts, containers, f-strings, arguments of other calls, ``await``), through
assignments to later uses of the name (or of ``self.attr`` in the same class), into containers a method
mutates (``context.update(...)``, ``items.append(...)``), through ``if``/``while`` tests that choose what the
view returns, and through ``return`` into the callers of a helper in the same file.

The answer is three-valued: ``True`` when some path reaches the response, ``False`` when every path ends
(a bare statement, a name never read again, a logging call, a callable handed to ``on_commit`` or a thread),
``None`` when the analysis cannot tell (the file or line is gone, a value escapes where it cannot follow).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import Path

from async_audit.analyze.model import CallSite
from async_audit.scan.source import FunctionNode, ModuleCache, ParsedModule

__all__ = [
    "CallerLookup",
    "call_at",
    "call_reaches_response",
    "clear_cache",
    "result_reaches_response",
]

Verdict = bool | None

# Given a module and one of its functions, the calls of that function anywhere (each with its module), so a
# scan that knows the whole call graph can follow a helper's return across files; None: unknown.
CallerLookup = Callable[[ParsedModule, FunctionNode], "list[tuple[ParsedModule, ast.Call]] | None"]

_RESPONSE_CALLS = frozenset(
    {
        "render",
        "render_to_response",
        "render_to_string",
        "redirect",
        "resolve_url",
        "reverse",
        "JsonResponse",
        "HttpResponse",
        "Response",
        "TemplateResponse",
        "SimpleTemplateResponse",
        "StreamingHttpResponse",
        "FileResponse",
        "Http404",
    }
)
# Methods whose value is the view's output when a class-based view or a DRF view returns from them.
_RESPONSE_METHODS = frozenset(
    {
        "get",
        "post",
        "put",
        "patch",
        "delete",
        "head",
        "options",
        "dispatch",
        "get_context_data",
        "get_queryset",
        "get_object",
        "get_success_url",
        "get_redirect_url",
        "form_valid",
        "form_invalid",
        "render_to_response",
        "list",
        "retrieve",
        "create",
        "update",
        "partial_update",
        "destroy",
        "to_representation",
    }
)
_LOG_RECEIVERS = frozenset(
    {"logger", "log", "logging", "_logger", "_log", "LOGGER", "LOG", "audit_log", "warnings"}
)
_LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "fatal"}
)
_MUTATORS = frozenset(
    {"append", "extend", "insert", "update", "add", "setdefault", "appendleft", "extendleft"}
)
# Calls that take a callable (or data) and run it after the response or elsewhere: a value handed to them
# does not reach the response.
_DEFERRERS = frozenset(
    {
        "on_commit",
        "Thread",
        "Timer",
        "Process",
        "submit",
        "run_in_executor",
        "call_soon",
        "call_later",
        "call_soon_threadsafe",
        "start_new_thread",
        "create_task",
        "ensure_future",
        "add_task",
        "apply_async",
        "delay",
        "enqueue",
        "enqueue_call",
        "send_task",
        "send_with_options",
        "schedule",
        "async_task",
        "spawn",
    }
)
_COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)
_MAX_HOPS = 3  # helper returns followed into callers

_cache = ModuleCache()


def clear_cache() -> None:
    """Forget parsed modules and callers (for tests that rewrite files in place within one mtime tick)."""
    _cache.clear()
    _trees.clear()


def result_reaches_response(source_root: Path, site: CallSite) -> bool | None:
    """Whether the value of the call at ``site`` reaches the HTTP response.

    ``site.file`` is relative to ``source_root``; ``site.function`` may be a plain or qualified function name,
    ``"<lambda>"``, or ``None`` (the innermost function holding the line). Returns ``True`` when the value
    flows into the response, ``False`` when it demonstrably does not, ``None`` when the file, line or call
    cannot be found or the analysis cannot tell.
    """
    if site.file is None or site.line is None:
        return None
    module = _cache.get(Path(source_root) / site.file)
    if module is None:
        return None
    call = call_at(module, site.line, site.function)
    if call is None:
        return None
    return call_reaches_response(module, call, _tree_callers(Path(source_root)))


class _TreeCallers:
    """The calls of a function anywhere under a source tree, found by name: a helper's value reaches the
    response only if one of its callers passes it on. Only files that mention the name are parsed."""

    _MAX_CALLERS = 40  # a name this common says nothing about one function

    def __init__(self, root: Path) -> None:
        self.root = root
        self._paths: list[Path] | None = None
        self._found: dict[tuple[str, bool], list[tuple[ParsedModule, ast.Call]] | None] = {}

    def __call__(
        self, module: ParsedModule, func: FunctionNode
    ) -> list[tuple[ParsedModule, ast.Call]] | None:
        key = (func.name, isinstance(module.parents.get(func), ast.ClassDef))
        if key not in self._found:
            self._found[key] = self._search(*key)
        return self._found[key]

    def _search(self, name: str, method: bool) -> list[tuple[ParsedModule, ast.Call]] | None:
        from async_audit.scan.project import discover

        if self._paths is None:
            self._paths = list(discover(self.root))
        needle = name.encode()
        found: list[tuple[ParsedModule, ast.Call]] = []
        for path in self._paths:
            try:
                if needle not in path.read_bytes():
                    continue
            except OSError:
                continue
            parsed = _cache.get(path)
            if parsed is None:
                continue
            for node in ast.walk(parsed.tree):
                if not isinstance(node, ast.Call):
                    continue
                callee = node.func
                if (isinstance(callee, ast.Attribute) and callee.attr == name) or (
                    not method and isinstance(callee, ast.Name) and callee.id == name
                ):
                    found.append((parsed, node))
                    if len(found) > self._MAX_CALLERS:
                        return None
        return found


_trees: dict[Path, _TreeCallers] = {}


def _tree_callers(root: Path) -> _TreeCallers:
    key = root.resolve()
    known = _trees.get(key)
    if known is None:
        known = _trees[key] = _TreeCallers(key)
    return known


def call_at(module: ParsedModule, line: int, function: str | None) -> ast.Call | None:
    """The call a recorded frame at ``line`` in ``function`` was making.

    Several calls can share a line (``render(request, "t.html", {"r": client.get(url)})``): the outermost
    one that neither builds the response nor logs is taken, which is the library call a hook records.
    """
    scope: ast.AST | None
    if function is not None and "<" in function:
        # Code objects of lambdas and comprehensions (qualified on Python 3.11+: "view.<locals>.<lambda>"):
        # look in the function around them.
        outer, _, special = function.rpartition(".")
        outer = outer.removesuffix(".<locals>")
        if special == "<lambda>":
            holder = module.function_at(line, outer) if outer else module.tree
            return _call_in(_innermost_lambda(holder or module.tree, line), line)
        if special != "<module>":
            function = outer or None
    if function == "<module>":
        scope = module.tree
    else:
        scope = module.function_at(line, function)
        if scope is None and function is None:
            scope = module.tree
    return _call_in(scope, line)


def _call_in(scope: ast.AST | None, line: int) -> ast.Call | None:
    if scope is None:
        return None
    starting: list[ast.Call] = []
    covering: list[ast.Call] = []
    for node in ast.walk(scope):
        if isinstance(node, ast.Call):
            end = node.end_lineno or node.lineno
            if node.lineno == line:
                starting.append(node)
            elif node.lineno <= line <= end:
                covering.append(node)
    candidates = starting or covering
    if not candidates:
        return None
    plain = [c for c in candidates if _call_role(c) is None] or candidates
    return min(plain, key=lambda c: (c.lineno, c.col_offset, -(c.end_lineno or 0), -(c.end_col_offset or 0)))


def _innermost_lambda(tree: ast.AST, line: int) -> ast.Lambda | None:
    best: ast.Lambda | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if best is None or (node.lineno, node.col_offset) >= (best.lineno, best.col_offset):
                best = node
    return best


def call_reaches_response(
    module: ParsedModule, call: ast.Call, callers: CallerLookup | None = None
) -> bool | None:
    """Whether the value of ``call`` (a node of ``module.tree``) reaches the response; see the module doc."""
    try:
        return _Flow(module, callers).start(call)
    except RecursionError:
        return None  # a chain of thousands of reassignments: too long to follow


def _combine(verdicts: Iterable[Verdict]) -> Verdict:
    """Any path to the response wins; otherwise any unknown path leaves the answer unknown."""
    result: Verdict = False
    for verdict in verdicts:
        if verdict is True:
            return True
        if verdict is None:
            result = None
    return result


def _name_of(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _root(expr: ast.expr) -> ast.expr:
    while isinstance(expr, (ast.Attribute, ast.Subscript, ast.Starred)):
        expr = expr.value
    return expr


def _call_role(call: ast.Call) -> str | None:
    """``"response"``, ``"log"``, ``"mutate"``, ``"defer"`` or ``None`` for an ordinary call."""
    func = call.func
    name = _name_of(func)
    if name is None:
        return None
    if name in _RESPONSE_CALLS or name.startswith("HttpResponse") or name.endswith("Response"):
        return "response"
    if isinstance(func, ast.Attribute):
        receiver = _root(func.value)
        receiver_name = receiver.id if isinstance(receiver, ast.Name) else None
        if receiver_name == "messages":
            return "response"  # django.contrib.messages: shown on the next page
        if name in _LOG_METHODS and (
            receiver_name in _LOG_RECEIVERS or (receiver_name is not None and "log" in receiver_name.lower())
        ):
            return "log"
        if name == "render" or name == "render_to_string":
            return "response"
        if name in _MUTATORS:
            return "mutate"
    elif name == "print":
        return "log"
    if name in _DEFERRERS:
        return "defer"
    return None


class _Flow:
    def __init__(self, module: ParsedModule, callers: CallerLookup | None) -> None:
        self.module = module
        self.callers = callers
        self.seen: set[tuple[int, int]] = set()
        self._loads: dict[int, dict[str, list[ast.Name]]] = {}

    def start(self, call: ast.Call) -> Verdict:
        return self.up(self.module, call, _MAX_HOPS)

    # -- expressions -------------------------------------------------------------------------------------

    def up(self, module: ParsedModule, node: ast.AST, hops: int) -> Verdict:  # noqa: C901 - one dispatch
        """Follow a value from ``node`` to the statement that consumes it."""
        key = (id(module), id(node))
        if key in self.seen:
            return False
        self.seen.add(key)
        parents = module.parents
        while True:
            parent = parents.get(node)
            if parent is None:
                return None
            if isinstance(parent, ast.Call) and node is not parent.func:
                role = _call_role(parent)
                if role == "response":
                    return True
                if role in ("log", "defer"):
                    return False
                if role == "mutate":
                    assert isinstance(parent.func, ast.Attribute)
                    return _combine(
                        [
                            self.assigned(module, parent.func.value, _statement_of(parents, parent), hops),
                            self.up(module, parent, hops),
                        ]
                    )
            elif isinstance(parent, (ast.Yield, ast.YieldFrom)):
                return True
            elif isinstance(parent, ast.Lambda):
                return self.lambda_value(module, parent, hops)
            elif isinstance(parent, ast.NamedExpr):
                named = self.assigned(module, parent.target, _statement_of(parents, parent), hops)
                if named is True:
                    return True
            elif isinstance(parent, ast.withitem):
                if parent.optional_vars is None or node is not parent.context_expr:
                    return False
                return self.assigned(module, parent.optional_vars, _statement_of(parents, parent), hops)
            elif isinstance(parent, ast.stmt):
                return self.statement(module, parent, node, hops)
            elif not isinstance(parent, (ast.expr, ast.keyword, ast.comprehension, ast.arguments)):
                return None
            node = parent

    def statement(self, module: ParsedModule, stmt: ast.stmt, node: ast.AST, hops: int) -> Verdict:  # noqa: C901
        if isinstance(stmt, ast.Return):
            return self.returned(module, stmt, hops)
        if isinstance(stmt, ast.Raise):
            return self.returned(module, stmt, hops)  # an exception out of a view is a response too
        if isinstance(stmt, ast.Assert):
            return True
        if isinstance(stmt, ast.Assign):
            if node is not stmt.value:
                return False
            return _combine(self.assigned(module, target, stmt, hops) for target in stmt.targets)
        if isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
            if node is not stmt.value:
                return False
            return self.assigned(module, stmt.target, stmt, hops)
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            if node is not stmt.iter:
                return False
            return self.assigned(module, stmt.target, stmt, hops)
        if isinstance(stmt, (ast.If, ast.While)):
            return self.decides(module, stmt, stmt.body + stmt.orelse, hops)
        match_cls = getattr(ast, "Match", None)
        if match_cls is not None and isinstance(stmt, match_cls):
            body: list[ast.stmt] = [s for case in stmt.cases for s in case.body]
            return self.decides(module, stmt, body, hops)
        if isinstance(stmt, (ast.Expr, ast.Delete)):
            return False
        return None

    def decides(self, module: ParsedModule, stmt: ast.stmt, body: list[ast.stmt], hops: int) -> Verdict:
        """A tested value chooses the response when a branch returns, raises or builds a response."""
        targets: list[ast.expr] = []
        exits: list[Verdict] = []
        for inner in _walk_same_function(body):
            if isinstance(inner, (ast.Return, ast.Raise)):
                # The test chooses what the function returns (or raises): in a view that is the response,
                # in a helper it is what its callers get back.
                exits.append(self.returned(module, inner, hops))
            if isinstance(inner, ast.Call) and _call_role(inner) == "response":
                return True
            if isinstance(inner, ast.Assign):
                targets.extend(inner.targets)
            elif isinstance(inner, (ast.AugAssign, ast.AnnAssign)):
                targets.append(inner.target)
        if _combine(exits) is True:
            return True
        return _combine([*exits, *(self.assigned(module, target, stmt, hops) for target in targets)])

    # -- names and attributes ----------------------------------------------------------------------------

    def assigned(self, module: ParsedModule, target: ast.expr, stmt: ast.stmt | None, hops: int) -> Verdict:
        """The value now lives in ``target``: follow every later read of it."""
        if isinstance(target, (ast.Tuple, ast.List)):
            return _combine(self.assigned(module, elt, stmt, hops) for elt in target.elts)
        if isinstance(target, ast.Starred):
            return self.assigned(module, target.value, stmt, hops)
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            if target.value.id in ("self", "cls"):
                return self.attribute_reads(module, target, stmt, hops)
        root = _root(target)
        if stmt is None:
            return None
        if not isinstance(root, ast.Name):
            return False  # written into something built on the spot (``qs.filter(...).update(x=value)``)
        scope = _enclosing_scope(module.parents, stmt)
        if isinstance(stmt, _COMPOUND):
            after = (target.end_lineno or target.lineno, target.end_col_offset or 0)
        else:
            after = (stmt.end_lineno or stmt.lineno, stmt.end_col_offset or 0)
        reads = [
            load
            for load in self.loads(scope).get(root.id, [])
            if load is not root and _reads_after(module.parents, load, after, stmt, scope)
        ]
        return _combine(self.up(module, load, hops) for load in reads)

    def attribute_reads(
        self, module: ParsedModule, target: ast.Attribute, stmt: ast.stmt | None, hops: int
    ) -> Verdict:
        """``self.attr = value``: every read of ``self.attr`` in the class's methods."""
        parents = module.parents
        cls: ast.AST | None = stmt
        while cls is not None and not isinstance(cls, ast.ClassDef):
            cls = parents.get(cls)
        if cls is None:
            return None
        reads = [
            node
            for node in ast.walk(cls)
            if isinstance(node, ast.Attribute)
            and node is not target
            and node.attr == target.attr
            and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name)
            and node.value.id == getattr(target.value, "id", None)
        ]
        if not reads:
            # A base class outside the project (Django's generic views) may read it.
            return None if cls.bases else False
        return _combine(self.up(module, read, hops) for read in reads)

    def loads(self, scope: ast.AST) -> dict[str, list[ast.Name]]:
        index = self._loads.get(id(scope))
        if index is None:
            index = {}
            for node in ast.walk(scope):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    index.setdefault(node.id, []).append(node)
            self._loads[id(scope)] = index
        return index

    # -- leaving a function ------------------------------------------------------------------------------

    def returned(self, module: ParsedModule, stmt: ast.Return | ast.Raise, hops: int) -> Verdict:
        """The value is what a function returns: the response itself, or a helper's result."""
        func = _enclosing_scope(module.parents, stmt)
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        outer = _enclosing_scope(module.parents, func)
        if isinstance(outer, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return self.callable_used(module, func.name, outer, func, hops)
        if func.name in _RESPONSE_METHODS or hops <= 0:
            return True
        calls = self.calls_of(module, func)
        if not calls:
            return True  # nobody in the tree calls it: Django does (a view), or it is a helper of a helper
        return _combine(self.up(caller_module, call, hops - 1) for caller_module, call in calls)

    def calls_of(self, module: ParsedModule, func: FunctionNode) -> list[tuple[ParsedModule, ast.Call]]:
        if self.callers is not None:
            found = self.callers(module, func)
            if found is not None:
                return found
        in_class = isinstance(module.parents.get(func), ast.ClassDef)
        calls: list[tuple[ParsedModule, ast.Call]] = []
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            if in_class:
                if isinstance(callee, ast.Attribute) and callee.attr == func.name:
                    calls.append((module, node))
            elif isinstance(callee, ast.Name) and callee.id == func.name:
                calls.append((module, node))
        return calls

    def lambda_value(self, module: ParsedModule, lam: ast.Lambda, hops: int) -> Verdict:
        parent = module.parents.get(lam)
        if isinstance(parent, ast.keyword):
            parent = module.parents.get(parent)
        if isinstance(parent, ast.Call) and _call_role(parent) == "defer":
            return False  # on_commit(lambda: ...), Thread(target=lambda: ...): nobody reads the value
        if isinstance(parent, ast.Assign):
            names = [t.id for t in parent.targets if isinstance(t, ast.Name)]
            scope = _enclosing_scope(module.parents, parent)
            return _combine(self.callable_used(module, name, scope, parent, hops) for name in names)
        # sorted(key=lambda ...), map(lambda ..., items): the value shapes the consumer's result.
        return self.up(module, lam, hops)

    def callable_used(
        self, module: ParsedModule, name: str, scope: ast.AST, defined: ast.AST, hops: int
    ) -> Verdict:
        """A local function or lambda bound to ``name``: follow its calls, stop where it is deferred."""
        verdicts: list[Verdict] = []
        for load in self.loads(scope).get(name, []):
            parent = module.parents.get(load)
            if isinstance(parent, ast.Call) and parent.func is load:
                verdicts.append(self.up(module, parent, hops))
                continue
            if isinstance(parent, ast.keyword):
                parent = module.parents.get(parent)
            if isinstance(parent, ast.Call) and _call_role(parent) == "defer":
                verdicts.append(False)
            else:
                verdicts.append(None)
        return _combine(verdicts)


def _statement_of(parents: dict[ast.AST, ast.AST], node: ast.AST) -> ast.stmt | None:
    current: ast.AST | None = node
    while current is not None and not isinstance(current, ast.stmt):
        current = parents.get(current)
    return current


def _enclosing_scope(parents: dict[ast.AST, ast.AST], node: ast.AST) -> ast.AST:
    current = parents.get(node)
    while current is not None:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Module)):
            return current
        current = parents.get(current)
    return node


def _reads_after(
    parents: dict[ast.AST, ast.AST], load: ast.Name, after: tuple[int, int], stmt: ast.stmt, scope: ast.AST
) -> bool:
    """A read sees the assignment when it comes later, or anywhere in a loop around both."""
    if (load.lineno, load.col_offset) >= after:
        return True
    current: ast.AST | None = (
        stmt if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)) else parents.get(stmt)
    )
    while current is not None and current is not scope:
        if isinstance(current, (ast.For, ast.AsyncFor, ast.While)):
            start = (current.lineno, current.col_offset)
            stop = (current.end_lineno or current.lineno, current.end_col_offset or 0)
            if start <= (load.lineno, load.col_offset) <= stop:
                return True
        current = parents.get(current)
    return False


def _walk_same_function(body: list[ast.stmt]) -> Iterable[ast.AST]:
    """Nodes of ``body`` without descending into nested functions, classes or lambdas."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.append(child)
