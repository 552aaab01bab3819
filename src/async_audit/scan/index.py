"""One pass over each module: its imports, functions, classes, calls and module-level wiring.

Everything later stages need is gathered here in a single walk of the tree, so each file is parsed and
walked once. Names are resolved later, against the whole project (:mod:`async_audit.scan.resolve`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from async_audit.scan.source import FunctionNode, ParsedModule

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


@dataclass(eq=False)
class CallInfo:
    """A call made inside a function, with where it sits."""

    node: ast.Call
    loop: bool  # inside a loop or comprehension of its function
    atomic: bool  # inside ``with transaction.atomic()`` of its function
    on_commit: bool  # inside a lambda handed to ``transaction.on_commit``


@dataclass(eq=False)
class FunctionInfo:
    """A function or method of the project."""

    module: ModuleIndex
    qualname: str
    node: FunctionNode
    cls: ClassInfo | None
    parent: FunctionInfo | None
    _calls: list[CallInfo] = field(default_factory=list, repr=False)
    _local_types: dict[str, ast.Call] = field(default_factory=dict, repr=False)
    _local_values: dict[str, ast.expr] = field(default_factory=dict, repr=False)
    _nested: dict[str, FunctionInfo] = field(default_factory=dict, repr=False)
    _pending: tuple[_Indexer, _Ctx] | None = field(default=None, repr=False)

    # The body is walked the first time anything inside it is asked for: a scan reaches only a small part of
    # a large project's functions from its entry points, and walking the rest would be wasted.
    def _ready(self) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            indexer, ctx = pending
            try:
                indexer.body(self.node.body, ctx)
            except RecursionError:
                pass  # absurdly deep expressions: keep what was gathered

    @property
    def calls(self) -> list[CallInfo]:
        self._ready()
        return self._calls

    @property
    def local_types(self) -> dict[str, ast.Call]:
        """Variable -> the call that made its value (``client = httpx.Client()``)."""
        self._ready()
        return self._local_types

    @property
    def local_values(self) -> dict[str, ast.expr]:
        """Variable -> its last value other than a call."""
        self._ready()
        return self._local_values

    @property
    def nested(self) -> dict[str, FunctionInfo]:
        self._ready()
        return self._nested

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def dotted(self) -> str:
        return f"{self.module.name}.{self.qualname}"


@dataclass(eq=False)
class ClassInfo:
    """A class of the project: its bases (unresolved), methods and class-level assignments."""

    module: ModuleIndex
    qualname: str
    node: ast.ClassDef
    methods: dict[str, FunctionInfo] = field(default_factory=dict)
    attrs: dict[str, ast.expr] = field(default_factory=dict)  # model = Order, form_class = SignupForm, ...
    meta: dict[str, ast.expr] = field(default_factory=dict)  # class Meta: model = Order
    _self_types: dict[str, ast.Call] = field(default_factory=dict, repr=False)

    @property
    def self_types(self) -> dict[str, ast.Call]:
        """``self.client = httpx.Client(...)`` in any method: attribute -> the call that made it."""
        for method in list(self.methods.values()):
            method._ready()
        return self._self_types

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def dotted(self) -> str:
        return f"{self.module.name}.{self.qualname}"


@dataclass(eq=False)
class ModuleIndex:
    """What one file defines and wires up."""

    name: str  # dotted module name
    rel: str  # path relative to the scanned root, with forward slashes
    parsed: ParsedModule
    is_package: bool
    imports: dict[str, tuple[str, ...]] = field(default_factory=dict)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)  # by qualname
    classes: dict[str, ClassInfo] = field(default_factory=dict)  # by qualname
    globals: dict[str, ast.expr] = field(default_factory=dict)  # module-level name -> last value
    module_calls: list[ast.Call] = field(default_factory=list)  # calls at module level
    urlpatterns: list[ast.expr] = field(default_factory=list)  # values assigned or added to urlpatterns
    eager: bool = False  # function bodies walked up front (the module connects signal receivers)

    def top(self, name: str) -> FunctionInfo | ClassInfo | None:
        return self.functions.get(name) or self.classes.get(name)


@dataclass
class _Ctx:
    func: FunctionInfo | None
    cls: ClassInfo | None
    prefix: str
    loop: bool = False
    atomic: bool = False
    on_commit: bool = False


def _is_atomic(expr: ast.expr) -> bool:
    target = expr.func if isinstance(expr, ast.Call) else expr
    return isinstance(target, (ast.Attribute, ast.Name)) and (
        (isinstance(target, ast.Attribute) and target.attr == "atomic")
        or (isinstance(target, ast.Name) and target.id == "atomic")
    )


def _is_on_commit(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "on_commit") or (
        isinstance(func, ast.Name) and func.id == "on_commit"
    )


class _Indexer:
    def __init__(self, module: ModuleIndex) -> None:
        self.module = module

    def body(self, stmts: list[ast.stmt], ctx: _Ctx) -> None:
        for stmt in stmts:
            self.visit(stmt, ctx)

    def visit(self, node: ast.AST, ctx: _Ctx) -> None:  # noqa: C901 - the single dispatch of the walk
        kind = type(node)
        if kind is ast.Expr or kind is ast.Return:
            value = node.value  # type: ignore[attr-defined]
            if value is not None:
                self.expr(value, ctx)
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            self.function(node, ctx)
        elif kind is ast.ClassDef:
            assert isinstance(node, ast.ClassDef)
            self.klass(node, ctx)
        elif kind is ast.Assign or kind is ast.AnnAssign or kind is ast.AugAssign:
            self.assign(node, ctx)
        elif kind is ast.Import or kind is ast.ImportFrom:
            assert isinstance(node, (ast.Import, ast.ImportFrom))
            self.imports(node)
        elif kind in _LOOPS:
            assert isinstance(node, (ast.For, ast.AsyncFor, ast.While))
            inner = _Ctx(ctx.func, ctx.cls, ctx.prefix, True, ctx.atomic, ctx.on_commit)
            if isinstance(node, ast.While):
                self.visit(node.test, inner)
            else:
                self.visit(node.iter, ctx)
                self.visit(node.target, inner)
            self.body(node.body, inner)
            self.body(node.orelse, ctx)
        elif kind is ast.With or kind is ast.AsyncWith:
            assert isinstance(node, (ast.With, ast.AsyncWith))
            atomic = ctx.atomic
            for item in node.items:
                self.visit(item.context_expr, ctx)
                atomic = atomic or _is_atomic(item.context_expr)
                if (
                    ctx.func is not None
                    and isinstance(item.optional_vars, ast.Name)
                    and isinstance(item.context_expr, ast.Call)
                ):
                    ctx.func._local_types[item.optional_vars.id] = item.context_expr
            inner = _Ctx(ctx.func, ctx.cls, ctx.prefix, ctx.loop, atomic, ctx.on_commit)
            self.body(node.body, inner)
        elif isinstance(node, ast.expr):
            self.expr(node, ctx)
        else:
            for name in node._fields:
                value = getattr(node, name, None)
                if isinstance(value, list):
                    for item in value:
                        if isinstance(item, ast.expr):
                            self.expr(item, ctx)
                        elif isinstance(item, ast.AST):
                            self.visit(item, ctx)
                elif isinstance(value, ast.expr):
                    self.expr(value, ctx)
                elif isinstance(value, ast.AST):
                    self.visit(value, ctx)

    def expr(self, node: ast.expr, ctx: _Ctx) -> None:  # noqa: C901 - the inner loop of the walk, kept flat
        """Calls in an expression; names, constants and attributes (most nodes) are passed over quickly."""
        stack: list[ast.AST] = [node]
        pop, push = stack.pop, stack.append
        while stack:
            current = pop()
            kind = type(current)
            if kind is ast.Name or kind is ast.Constant:
                continue
            if kind is ast.Attribute:
                push(current.value)  # type: ignore[attr-defined]
            elif kind is ast.Call:
                assert isinstance(current, ast.Call)
                self.call(current, ctx)
                push(current.func)
                if _is_on_commit(current):
                    later = _Ctx(ctx.func, ctx.cls, ctx.prefix, ctx.loop, ctx.atomic, True)
                    for arg in [*current.args, *(k.value for k in current.keywords)]:
                        if isinstance(arg, ast.Lambda):
                            self.expr(arg, later)
                        else:
                            push(arg)
                else:
                    stack.extend(current.args)
                    stack.extend([k.value for k in current.keywords])
            elif kind in _COMPREHENSIONS:
                inner = _Ctx(ctx.func, ctx.cls, ctx.prefix, True, ctx.atomic, ctx.on_commit)
                for child in ast.iter_child_nodes(current):
                    self.visit(child, inner)
            else:
                for name in current._fields:
                    value = getattr(current, name, None)
                    if isinstance(value, list):
                        stack.extend(item for item in value if isinstance(item, ast.AST))
                    elif isinstance(value, ast.AST):
                        push(value)

    def call(self, node: ast.Call, ctx: _Ctx) -> None:
        if ctx.func is not None:
            ctx.func._calls.append(CallInfo(node, ctx.loop, ctx.atomic, ctx.on_commit))
        elif ctx.cls is None:
            self.module.module_calls.append(node)

    def function(self, node: FunctionNode, ctx: _Ctx) -> None:
        qualname = ctx.prefix + node.name
        info = FunctionInfo(self.module, qualname, node, ctx.cls, ctx.func)
        atomic = any(_is_atomic(d) for d in node.decorator_list)
        if ctx.func is not None:
            # Decorators and defaults of a nested function run as part of the enclosing one.
            for decorator in node.decorator_list:
                self.visit(decorator, ctx)
            for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                self.visit(default, ctx)
        if ctx.func is not None:
            ctx.func._nested[node.name] = info
            self.module.functions[qualname] = info
        elif ctx.cls is not None:
            ctx.cls.methods.setdefault(node.name, info)
            self.module.functions[qualname] = info
        else:
            self.module.functions[qualname] = info
        info._pending = (self, _Ctx(info, ctx.cls, qualname + ".<locals>.", atomic=atomic))

    def klass(self, node: ast.ClassDef, ctx: _Ctx) -> None:
        qualname = ctx.prefix + node.name
        if ctx.cls is not None and node.name == "Meta":
            for stmt in node.body:
                if isinstance(stmt, ast.Assign):
                    for target in stmt.targets:
                        if isinstance(target, ast.Name):
                            ctx.cls.meta[target.id] = stmt.value
            return
        info = ClassInfo(self.module, qualname, node)
        self.module.classes.setdefault(qualname, info)
        for expr in node.bases + node.decorator_list:
            self.visit(expr, ctx)
        inner = _Ctx(ctx.func, info, qualname + ".")
        for stmt in node.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        info.attrs[target.id] = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
                info.attrs[stmt.target.id] = stmt.value
            self.visit(stmt, inner)

    def assign(self, node: ast.AST, ctx: _Ctx) -> None:
        assert isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
        value = node.value
        if value is None:
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if ctx.func is not None:
                if isinstance(target, ast.Name) and isinstance(value, ast.Call):
                    ctx.func._local_types[target.id] = value
                elif isinstance(target, ast.Name):
                    ctx.func._local_values[target.id] = value
                elif (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                    and ctx.cls is not None
                    and isinstance(value, ast.Call)
                ):
                    ctx.cls._self_types.setdefault(target.attr, value)
            elif ctx.cls is None and isinstance(target, ast.Name):
                if target.id == "urlpatterns":
                    self.module.urlpatterns.append(value)
                if not isinstance(node, ast.AugAssign):
                    self.module.globals[target.id] = value
        self.visit(value, ctx)
        for target in targets:
            if not isinstance(target, ast.Name):
                self.visit(target, ctx)

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        table = self.module.imports
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = tuple(alias.name.split("."))
                if alias.asname:
                    table[alias.asname] = parts
                else:
                    table.setdefault(parts[0], parts[:1])
            return
        base = self._import_base(node)
        if base is None:
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            table[alias.asname or alias.name] = (*base, alias.name)

    def _import_base(self, node: ast.ImportFrom) -> tuple[str, ...] | None:
        mod = tuple(node.module.split(".")) if node.module else ()
        if not node.level:
            return mod
        package = self.module.name.split(".")
        if not self.module.is_package:
            package = package[:-1]
        up = node.level - 1
        if up > len(package):
            return None
        return tuple(package[: len(package) - up]) + mod


def index_module(
    parsed: ParsedModule, name: str, rel: str, is_package: bool, eager: bool = False
) -> ModuleIndex:
    """Walk ``parsed`` and gather what the scan needs from it; function bodies wait until they are needed
    unless ``eager`` (a module that wires signals up inside functions, such as ``AppConfig.ready``)."""
    module = ModuleIndex(name=name, rel=rel, parsed=parsed, is_package=is_package, eager=eager)
    _Indexer(module).body(parsed.tree.body, _Ctx(None, None, ""))
    if eager:
        pending = list(module.functions.values())
        while pending:
            func = pending.pop()
            known = len(module.functions)
            func._ready()
            if len(module.functions) != known:
                pending = [f for f in module.functions.values() if f._pending is not None]
    return module
