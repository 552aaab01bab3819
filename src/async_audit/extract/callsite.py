"""Reading a call site with libcst: what the slow statement needs, and how to replace it with an enqueue.

The statement at ``site.line`` in ``site.function`` becomes the task's body. Every local name it uses is
classified from its binding in the function: model instances (``X.objects.get/create(...)``,
``get_object_or_404(X, ...)``, ``form.save()``, ``request.user``, parameters annotated with a model) travel as
primary keys and are looked up afresh in the task; the request never travels (``request.user`` becomes a user
id, ``request.POST["email"]`` a string); a local built from a literal (a template context dict) is rebuilt
inside the task; any other local is passed as it is. A statement whose value is used, or which sits inside
control flow that cannot move, is not rewritten: the caller gets a snippet instead.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, ParentNodeProvider, PositionProvider

from async_audit.extract.spec import STDLIB as _STDLIB_NAMES
from async_audit.extract.spec import ImportSpec, ModelRef, Param, identifier, unique
from async_audit.extract.spec import from_lines as _from_lines
from async_audit.extract.spec import member_key as _member_sort_key

_BUILTINS = frozenset(dir(builtins))
_MODEL_GETTERS = frozenset(
    {
        "get",
        "create",
        "create_user",
        "create_superuser",
        "get_or_create",
        "update_or_create",
        "first",
        "last",
        "latest",
        "earliest",
        "select_for_update",
    }
)
_TUPLE_GETTERS = frozenset({"get_or_create", "update_or_create"})
_ORM_WRITES = frozenset({"save", "delete", "create", "update", "bulk_create", "bulk_update", "get_or_create"})
_USER_BASES = frozenset({"User", "AbstractUser", "AbstractBaseUser"})
# Keyword arguments some enqueue calls keep for themselves (django-q2's async_task, RQ's delay) and names the
# task module defines: a task parameter never takes one of them.
RESERVED = frozenset(
    {
        "hook",
        "group",
        "save",
        "sync",
        "cached",
        "ack_failure",
        "iter_count",
        "iter_cached",
        "chain",
        "broker",
        "cluster",
        "timeout",
        "q_options",
        "task_name",
        "job_id",
        "depends_on",
        "at_front",
        "meta",
        "description",
        "ttl",
        "result_ttl",
        "failure_ttl",
        "retry",
        "on_success",
        "on_failure",
        "on_stopped",
        "pipeline",
        "logger",
        "user_model",
        "task",
        "partial",
        "transaction",
        "self",
        "args",
        "options",
        "json",
        "Any",
    }
)
_PURE_CALLS = frozenset({"str", "int", "float", "bool", "len", "round", "sorted", "list", "tuple", "dict"})


@dataclass
class CallSitePlan:
    """What moving one statement into a task takes."""

    file: str
    function: str
    line: int  # first line of the statement (or loop) that moves
    column: int
    callee: str  # the slow call's name: "send_mail", "push_contact"
    code: str  # the statement as written, for the report
    params: list[Param] = field(default_factory=list)
    prelude: list[str] = field(default_factory=list)  # locals rebuilt in the task before the work
    body: str = ""
    imports: list[ImportSpec] = field(default_factory=list)
    local_imports: list[ImportSpec] = field(default_factory=list)
    unused_after: list[ImportSpec] = field(default_factory=list)  # call-site imports the move may orphan
    removals: list[tuple[int, int]] = field(
        default_factory=list
    )  # rebuilt locals the call site no longer uses
    in_atomic: bool = False
    loop: bool = False  # a whole ``for`` loop moves: one task instead of one per item
    unwrapped_try: bool = False  # the try/except (log only) around the call goes with it
    orm_write: bool = False
    problems: list[str] = field(default_factory=list)  # why the rewrite is not safe

    @property
    def rewritable(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ProjectInfo:
    """What the analysis needs to know about the audited project."""

    root: Path | None
    first_party: frozenset[str]


def module_name(rel_file: str) -> str:
    """``accounts/views.py`` -> ``accounts.views``; ``pkg/__init__.py`` -> ``pkg``."""
    parts = rel_file.replace("\\", "/").removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(p for p in parts if p)


def absolute_module(module: str, level: int, current: str, is_package: bool = False) -> str:
    """Resolve a relative import of ``current`` (a module's dotted name)."""
    if level == 0:
        return module
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _dotted(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


def _import_module_name(node: cst.ImportFrom) -> str:
    return _dotted(node.module) or "" if node.module is not None else ""


class _Collector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.functions: list[cst.FunctionDef] = []
        self.lines: list[cst.SimpleStatementLine] = []
        self.compounds: list[cst.BaseCompoundStatement] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.lines.append(node)

    def visit_If(self, node: cst.If) -> None:
        self.compounds.append(node)

    def visit_With(self, node: cst.With) -> None:
        self.compounds.append(node)

    def visit_For(self, node: cst.For) -> None:
        self.compounds.append(node)

    def visit_While(self, node: cst.While) -> None:
        self.compounds.append(node)

    def visit_Try(self, node: cst.Try) -> None:
        self.compounds.append(node)


class _Names(cst.CSTVisitor):
    """Names a piece of code reads, and the names it binds itself (loop and comprehension targets)."""

    def __init__(self) -> None:
        self.loads: list[cst.Name] = []
        self.bound: set[str] = set()
        self.flow: list[str] = []

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.loads.append(node)

    def visit_For(self, node: cst.For) -> None:
        self.bound |= _target_names(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self.bound |= _target_names(node.target)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.bound |= {p.name.value for p in node.params.params}

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.flow.append("an assignment expression (:=)")

    def visit_Return(self, node: cst.Return) -> None:
        self.flow.append("a return")

    def visit_Break(self, node: cst.Break) -> None:
        self.flow.append("a break")

    def visit_Continue(self, node: cst.Continue) -> None:
        self.flow.append("a continue")

    def visit_Yield(self, node: cst.Yield) -> None:
        self.flow.append("a yield")

    def visit_Await(self, node: cst.Await) -> None:
        self.flow.append("an await")


def _target_names(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        out: set[str] = set()
        for el in target.elements:
            out |= _target_names(el.value)
        return out
    return set()


@dataclass
class _Binding:
    kind: str  # "param", "assign", "for", "with", "aug"
    value: cst.BaseExpression | None = None
    index: int | None = None  # position in a tuple target
    annotation: cst.BaseExpression | None = None
    statement: cst.SimpleStatementLine | None = None  # the one-line assignment, to rebuild in the task
    imported: ImportSpec | None = None  # an import inside the function: the task imports it the same way


class _Analyzer:
    def __init__(self, code: str, rel_file: str, project: ProjectInfo) -> None:
        self.rel_file = rel_file
        self.project = project
        self.module_dotted = module_name(rel_file)
        self.is_package = rel_file.endswith("__init__.py")
        self.wrapper = _wrapper(code)
        self.module = self.wrapper.module
        self.pos: Any = self.wrapper.resolve(PositionProvider)
        self.parents: Any = self.wrapper.resolve(ParentNodeProvider)
        collector = _Collector()
        self.module.visit(collector)
        self.collector = collector
        self.module_bindings = self._module_bindings()

    # -- lookups --------------------------------------------------------------------------------------
    def range(self, node: cst.CSTNode) -> CodeRange:
        result: CodeRange = self.pos[node]
        return result

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def _module_bindings(self) -> dict[str, ImportSpec | str]:
        out: dict[str, ImportSpec | str] = {}
        for stmt in self.module.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._bind_small(small, out)
            elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                out[stmt.name.value] = "module"
        return out

    def _bind_small(self, small: cst.BaseSmallStatement, out: dict[str, ImportSpec | str]) -> None:
        if isinstance(small, cst.Import):
            for alias in small.names:
                dotted = _dotted(alias.name) or ""
                local = _alias_asname(alias)
                if local:
                    out[local] = ImportSpec(dotted, None, local)
                else:
                    out[dotted.split(".")[0]] = ImportSpec(dotted.split(".")[0])
        elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            module = absolute_module(
                _import_module_name(small), len(small.relative), self.module_dotted, self.is_package
            )
            for alias in small.names:
                name = _dotted(alias.name) or ""
                asname = _alias_asname(alias)
                out[asname or name] = ImportSpec(module, name, asname)
        elif isinstance(small, (cst.Assign, cst.AnnAssign)):
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            for target in targets:
                for name in _target_names(target):
                    out[name] = "module"

    def function_at(self, line: int, name: str | None) -> cst.FunctionDef | None:
        best: cst.FunctionDef | None = None
        short = name.rsplit(".", 1)[-1] if name else None
        for fn in self.collector.functions:
            r = self.range(fn)
            if not r.start.line <= line <= r.end.line:
                continue
            if short is not None and fn.name.value != short:
                continue
            if best is None or r.start.line >= self.range(best).start.line:
                best = fn
        return best

    def within(self, node: cst.CSTNode, fn: cst.FunctionDef) -> bool:
        current: cst.CSTNode | None = node
        while current is not None:
            if current is fn:
                return True
            current = self.parents.get(current)
        return False

    def enclosing(self, node: cst.CSTNode, fn: cst.FunctionDef) -> list[cst.CSTNode]:
        """Ancestors of ``node`` up to ``fn`` (exclusive), innermost first."""
        out: list[cst.CSTNode] = []
        current = self.parents.get(node)
        while current is not None and current is not fn:
            out.append(current)
            current = self.parents.get(current)
        return out


def _alias_asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return None


def _is_atomic(expr: cst.BaseExpression) -> bool:
    target = expr.func if isinstance(expr, cst.Call) else expr
    dotted = _dotted(target) or ""
    return dotted in {"atomic", "transaction.atomic"} or dotted.endswith(".atomic")


def _call_name(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return "call"


def _first_call(node: cst.CSTNode) -> cst.Call | None:
    found: list[cst.Call] = []

    class _V(cst.CSTVisitor):
        def visit_Call(self, n: cst.Call) -> bool:
            found.append(n)
            return False

    node.visit(_V())
    return found[0] if found else None


def _literal_annotation(value: cst.BaseExpression | None) -> str:
    if isinstance(value, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
        return "str"
    if isinstance(value, cst.Integer):
        return "int"
    if isinstance(value, cst.Float):
        return "float"
    if isinstance(value, cst.Name) and value.value in {"True", "False"}:
        return "bool"
    return "Any"


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _chain_param_name(node: cst.CSTNode) -> str:
    """A parameter name for ``request.POST["email"]``, ``form.cleaned_data.get("plan")``, ``request.path``."""
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        index = node.slice[0].slice
        if isinstance(index, cst.Index):
            key = _string_value(index.value)
            if key:
                return identifier(key)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        if node.func.attr.value == "get" and node.args:
            key = _string_value(node.args[0].value)
            if key:
                return identifier(key)
        name = node.func.attr.value
        for prefix in ("build_", "get_"):
            name = name.removeprefix(prefix)
        return identifier(name)
    if isinstance(node, cst.Attribute):
        return identifier(node.attr.value)
    return "value"


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[cst.CSTNode, cst.CSTNode]) -> None:
        self.replacements = replacements

    def on_leave(self, original_node: Any, updated_node: Any) -> Any:
        return self.replacements.get(original_node, updated_node)


class _BindingCollector(cst.CSTVisitor):
    """The last binding of every local name before the moved statement."""

    def __init__(self, an: _Analyzer, fn: cst.FunctionDef, before: int, out: dict[str, _Binding]) -> None:
        self.an = an
        self.fn = fn
        self.before = before
        self.out = out

    def _early(self, node: cst.CSTNode) -> bool:
        return bool(self.an.range(node).start.line < self.before)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.fn

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if not self._early(node):
            return
        for small in node.body:
            if isinstance(small, cst.Assign):
                for t in small.targets:
                    self._assign(t.target, small.value, node)
            elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                ann = small.annotation.annotation
                self.out[small.target.value] = _Binding("assign", small.value, annotation=ann, statement=node)
            elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
                self.out[small.target.value] = _Binding("aug")
            elif isinstance(small, (cst.Import, cst.ImportFrom)):
                found: dict[str, ImportSpec | str] = {}
                self.an._bind_small(small, found)
                for local, spec in found.items():
                    if isinstance(spec, ImportSpec):
                        self.out[local] = _Binding("import", imported=spec, statement=node)

    def _assign(
        self, target: cst.BaseExpression, value: cst.BaseExpression, node: cst.SimpleStatementLine
    ) -> None:
        if isinstance(target, cst.Name):
            self.out[target.value] = _Binding("assign", value, statement=node)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for i, el in enumerate(target.elements):
                if isinstance(el.value, cst.Name):
                    self.out[el.value.value] = _Binding("assign", value, index=i)

    def visit_For(self, node: cst.For) -> None:
        if self._early(node):
            for name in _target_names(node.target):
                self.out[name] = _Binding("for", node.iter)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and self._early(node):
            for name in _target_names(node.asname.name):
                self.out[name] = _Binding("with", node.item)


class _Planner:
    """Works out one call site's plan."""

    def __init__(self, an: _Analyzer, fn: cst.FunctionDef, unit: cst.CSTNode, plan: CallSitePlan) -> None:
        self.an = an
        self.fn = fn
        self.unit = unit
        self.plan = plan
        self.unit_line = an.range(unit).start.line
        self.replacements: dict[cst.CSTNode, cst.CSTNode] = {}
        self.taken: set[str] = set(RESERVED)
        self.renames: dict[str, str] = {}
        self.params_by_key: dict[str, Param] = {}
        self.locals = self._function_bindings()
        self.done: set[str] = set()
        self.prelude_nodes: list[cst.SimpleStatementLine] = []
        self.import_nodes: list[cst.SimpleStatementLine] = []  # imports inside the function the work used
        self.class_model = self._class_model()

    # -- bindings in the function ---------------------------------------------------------------------
    def _function_bindings(self) -> dict[str, _Binding]:
        out: dict[str, _Binding] = {}
        params = self.fn.params
        for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
            ann = p.annotation.annotation if p.annotation else None
            out[p.name.value] = _Binding("param", annotation=ann)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                out[star.name.value] = _Binding("aug")
        self.fn.body.visit(_BindingCollector(self.an, self.fn, self.unit_line, out))
        return out

    def _class_model(self) -> str | None:
        """``model = Order`` in the class-based view that holds the function."""
        for node in self.an.enclosing(self.fn, self.an.module):  # type: ignore[arg-type]
            if isinstance(node, cst.ClassDef):
                for stmt in node.body.body:
                    if isinstance(stmt, cst.SimpleStatementLine):
                        for small in stmt.body:
                            if (
                                isinstance(small, cst.Assign)
                                and len(small.targets) == 1
                                and isinstance(small.targets[0].target, cst.Name)
                                and small.targets[0].target.value == "model"
                            ):
                                return _dotted(small.value)
        return None

    # -- classification -------------------------------------------------------------------------------
    def _request_root(self, name: cst.Name) -> cst.CSTNode | None:
        if name.value == "request":
            binding = self.locals.get("request")
            if binding is not None and binding.kind == "param":
                return name
        if name.value == "self":
            parent = self.an.parents.get(name)
            if isinstance(parent, cst.Attribute) and parent.value is name and parent.attr.value == "request":
                return parent
        return None

    def _climb(self, node: cst.CSTNode) -> cst.CSTNode:
        while True:
            parent = self.an.parents.get(node)
            if (
                isinstance(parent, cst.Attribute)
                and parent.value is node
                or isinstance(parent, cst.Subscript)
                and parent.value is node
                or isinstance(parent, cst.Call)
                and parent.func is node
            ):
                node = parent
                continue
            return node

    def _param(self, key: str, name: str, **kwargs: Any) -> Param:
        if key in self.params_by_key:
            return self.params_by_key[key]
        param = Param(name=unique(name, self.taken), **kwargs)
        self.params_by_key[key] = param
        self.plan.params.append(param)
        return param

    def _model_param(self, local: str, model: ModelRef, value_code: str) -> None:
        pk = f"str({value_code}.pk)" if model.uuid_pk else f"{value_code}.pk"
        self._param(
            f"model:{local}",
            f"{local}_id",
            annotation="str" if model.uuid_pk else "int",
            value=pk,
            model=model,
            local=local,
            help=f"primary key of the {model.expr if model.module else 'user'} to act on",
        )
        self.taken.add(local)

    def resolve_model_class(self, class_expr: str) -> ModelRef:
        head = class_expr.split(".")[0]
        binding = self.an.module_bindings.get(head)
        if isinstance(binding, ImportSpec) and binding.name is not None and "." not in class_expr:
            if binding.name in _USER_BASES and binding.module.startswith("django.contrib.auth"):
                return USER_MODEL
            return ModelRef(class_expr, binding.module, uuid_pk=self._uuid_pk(binding.module, binding.name))
        if isinstance(binding, ImportSpec) and binding.name is not None:
            return ModelRef(class_expr, binding.module, imported=binding.name)
        if isinstance(binding, ImportSpec):
            return ModelRef(class_expr, class_expr.rpartition(".")[0], imported="")
        if binding == "module":
            return ModelRef(
                class_expr, self.an.module_dotted, self._uuid_pk(self.an.module_dotted, class_expr)
            )
        return ModelRef(
            class_expr,
            f"{self.an.module_dotted.rpartition('.')[0] or self.an.module_dotted}.models",
            verified=False,
        )

    def _uuid_pk(self, module: str, cls: str) -> bool:
        tree = _parse_project_module(self.an.project, module)
        if tree is None:
            return False
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls:
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
                        func = ast.unparse(stmt.value.func)
                        pk = any(
                            k.arg == "primary_key"
                            and isinstance(k.value, ast.Constant)
                            and k.value.value is True
                            for k in stmt.value.keywords
                        )
                        if pk and func.endswith("UUIDField"):
                            return True
        return False

    def guess_model(self, local: str) -> ModelRef:
        """The model a name suggests (``organization``: ``Organization``), from the project's models."""
        if local == "user":
            return USER_MODEL  # get_user_model(): right for custom user models too
        cls = "".join(part.capitalize() for part in local.split("_"))
        package = self.an.module_dotted.rpartition(".")[0] or self.an.module_dotted
        for module in (f"{package}.models", *_project_models(self.an.project)):
            tree = _parse_project_module(self.an.project, module)
            if tree is not None and any(isinstance(n, ast.ClassDef) and n.name == cls for n in tree.body):
                return ModelRef(cls, module, self._uuid_pk(module, cls))
        if local == "user" or local.endswith("_user"):
            return USER_MODEL
        return ModelRef(cls, f"{package}.models", verified=False)

    def form_model(self, form_local: str) -> ModelRef | None:
        binding = self.locals.get(form_local)
        cls: str | None = None
        if binding is not None and binding.kind == "assign" and isinstance(binding.value, cst.Call):
            cls = _dotted(binding.value.func)
        elif binding is not None and binding.annotation is not None:
            cls = _dotted(binding.annotation)
        if not cls:
            return None
        imported = self.an.module_bindings.get(cls.split(".")[0])
        module = imported.module if isinstance(imported, ImportSpec) else self.an.module_dotted
        tree = _parse_project_module(self.an.project, module)
        if tree is None:
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls.split(".")[-1]:
                for inner in node.body:
                    if isinstance(inner, ast.ClassDef) and inner.name == "Meta":
                        for stmt in inner.body:
                            if (
                                isinstance(stmt, ast.Assign)
                                and any(isinstance(t, ast.Name) and t.id == "model" for t in stmt.targets)
                                and isinstance(stmt.value, ast.Name)
                            ):
                                return _model_in_module(self.an.project, module, stmt.value.id, tree)
        return None

    def is_form(self, local: str) -> bool:
        binding = self.locals.get(local)
        if binding is None:
            return False
        if binding.kind == "assign" and isinstance(binding.value, cst.Call):
            return (_dotted(binding.value.func) or "").endswith("Form")
        if binding.kind == "param" and binding.annotation is not None:
            return (_dotted(binding.annotation) or "").endswith("Form") or local == "form"
        return binding.kind == "param" and local == "form"

    def model_of(self, local: str) -> ModelRef | None:
        """The model ``local`` holds an instance of, when its binding says so."""
        binding = self.locals.get(local)
        if binding is None:
            return None
        if binding.kind == "param":
            return self._model_of_param(binding)
        if binding.kind == "for":
            code = self.an.code(binding.value) if binding.value is not None else ""
            if any(s in code for s in (".all()", ".filter(", ".objects", ".exclude(", "_set")):
                return self.guess_model(local)
            return None
        if binding.kind != "assign" or binding.value is None:
            return None
        value = binding.value
        if isinstance(value, cst.Attribute) and value.attr.value == "user":
            if isinstance(value.value, cst.Name) and value.value.value == "request":
                return USER_MODEL
        if isinstance(value, cst.Call):
            return self._model_of_call(local, value, binding.index)
        return None

    def _model_of_param(self, binding: _Binding) -> ModelRef | None:
        ann = _dotted(binding.annotation) if binding.annotation is not None else None
        if ann is None:
            return None
        if ann.split(".")[-1] in _USER_BASES:
            return USER_MODEL
        imported = self.an.module_bindings.get(ann.split(".")[0])
        if isinstance(imported, ImportSpec) and "models" in imported.module.split("."):
            return self.resolve_model_class(ann)
        return None

    def _model_of_call(self, local: str, value: cst.Call, index: int | None) -> ModelRef | None:
        func = value.func
        name = _call_name(value)
        if name == "get_object_or_404" and value.args:
            cls = _dotted(value.args[0].value)
            return self.resolve_model_class(cls) if cls else self.guess_model(local)
        if name in {"authenticate", "get_user"}:
            return USER_MODEL
        if isinstance(func, cst.Attribute):
            chain = self.an.code(func)
            if ".objects." in chain:
                if name in _TUPLE_GETTERS and index not in (None, 0):
                    return None
                head = chain.split(".objects")[0]
                if (
                    head.endswith("get_user_model()")
                    or head == "User"
                    and head not in self.an.module_bindings
                ):
                    return USER_MODEL
                if name in _MODEL_GETTERS or name.startswith("get"):
                    return self.resolve_model_class(head)
            owner = _dotted(func.value)
            if name == "save" and owner and self.is_form(owner):
                if index is None:
                    return self.form_model(owner) or self.guess_model(local)
                return self.guess_model(local)
        cls = _dotted(func)
        if cls and cls.split(".")[-1][:1].isupper():
            imported = self.an.module_bindings.get(cls.split(".")[0])
            if isinstance(imported, ImportSpec) and imported.module.endswith("models"):
                return self.resolve_model_class(cls)
            return None
        return self._model_of_helper(local, cls)

    def _model_of_helper(self, local: str, func: str | None) -> ModelRef | None:
        """A project helper (``current_organization(request)``): its return annotation names the model, or
        else the variable's name does when a project model has that name (a guess, flagged as one)."""
        if not func:
            return None
        binding = self.an.module_bindings.get(func.partition(".")[0])
        if not (
            binding == "module"
            or isinstance(binding, ImportSpec)
            and binding.module.split(".")[0] in self.an.project.first_party
        ):
            return None  # a library's object (a Stripe PaymentIntent), whatever the variable is called
        returned = self._model_returned_by(func)
        if returned is not None:
            return returned
        guess = self.guess_model(local)
        if guess.verified and guess is not USER_MODEL:
            return ModelRef(guess.expr, guess.module, guess.uuid_pk, verified=False)
        return None

    def _model_returned_by(self, func: str) -> ModelRef | None:
        """The model a project function's ``-> Model`` annotation names."""
        head, _, rest = func.partition(".")
        binding = self.an.module_bindings.get(head)
        if isinstance(binding, ImportSpec):
            base = f"{binding.module}.{binding.name}" if binding.name else binding.module
            module, _, name = f"{base}.{rest}".rstrip(".").rpartition(".")
        elif binding == "module" and not rest:
            module, name = self.an.module_dotted, head
        else:
            return None
        tree = _parse_project_module(self.an.project, module)
        if tree is None:
            return None
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name and isinstance(node.returns, ast.Name):
                model = _model_in_module(self.an.project, module, node.returns.id, tree)
                if model is USER_MODEL:
                    return model
                if model.verified and model.module and "models" in model.module.split("."):
                    return ModelRef(model.expr, model.module, self._uuid_pk(model.module, model.expr))
        return None

    # -- the walk -------------------------------------------------------------------------------------
    def visit(self, node: cst.CSTNode, bound: set[str]) -> None:
        names = _Names()
        node.visit(names)
        bound = bound | names.bound
        for name in names.loads:
            self.visit_name(name, bound)

    def visit_name(self, name: cst.Name, bound: set[str]) -> None:
        value = name.value
        if value in bound:
            return
        request_root = self._request_root(name)
        if request_root is not None:
            self.visit_request(request_root)
            return
        if value == "self":
            self.visit_self(name)
            return
        if value in self.locals:
            self.visit_local(name)
            return
        module_binding = self.an.module_bindings.get(value)
        if isinstance(module_binding, ImportSpec):
            self.plan.imports.append(module_binding)
            if module_binding.name is not None:
                self.plan.unused_after.append(module_binding)
            return
        if module_binding == "module":
            self.plan.local_imports.append(ImportSpec(self.an.module_dotted, value))
            return
        if value in _BUILTINS:
            return
        self.plan.problems.append(f"`{value}` is not defined in {self.an.rel_file} (a star import?)")

    def visit_request(self, root: cst.CSTNode) -> None:
        parent = self.an.parents.get(root)
        if isinstance(parent, cst.Attribute) and parent.value is root and parent.attr.value == "user":
            local = (
                "user" if "user" not in self.locals or self.model_of("user") is USER_MODEL else "request_user"
            )
            self._model_param(local, USER_MODEL, self.an.code(parent))
            self.replacements[parent] = cst.Name(local)
            return
        chain = self._climb(root)
        if chain is root:
            self.plan.problems.append("the request itself is used: pass only what the task needs from it")
            self._unsafe(root, "request")
            return
        code = self.an.code(chain)
        param = self._param(f"expr:{code}", _chain_param_name(chain), annotation="str", value=code)
        self.replacements[chain] = cst.Name(param.name)

    def visit_self(self, name: cst.Name) -> None:
        parent = self.an.parents.get(name)
        if isinstance(parent, cst.Attribute) and parent.value is name and parent.attr.value == "object":
            model = (
                self.resolve_model_class(self.class_model) if self.class_model else self.guess_model("object")
            )
            local = "obj"
            self._model_param(local, model, "self.object")
            self.replacements[parent] = cst.Name(local)
            return
        self.plan.problems.append("the code uses `self`: move what it needs into plain values first")
        self._unsafe(name, "view")

    def _unsafe(self, node: cst.CSTNode, name: str) -> None:
        """A parameter for a value that cannot travel as it is: the task still reads, the snippet says why."""
        param = self._param(f"unsafe:{self.an.code(node)}", name, annotation="Any", value=self.an.code(node))
        self.replacements[node] = cst.Name(param.name)

    def visit_local(self, name: cst.Name) -> None:
        local = name.value
        if self.is_form(local):
            self._form_value(name)
            return
        if local in self.renames:
            self.replacements[name] = cst.Name(self.renames[local])
        if local in self.done:
            return
        self.done.add(local)
        binding = self.locals[local]
        if binding.imported is not None:
            self.plan.local_imports.append(binding.imported)
            if binding.statement is not None and len(binding.statement.body) == 1:
                self.import_nodes.append(binding.statement)
            return
        model = self.model_of(local)
        if model is not None:
            self._model_param(local, model, local)
            return
        if (
            binding.kind == "assign"
            and binding.statement is not None
            and binding.value is not None
            and _rebuildable(binding.value)
        ):
            self.prelude_nodes.append(binding.statement)
            self.taken.add(local)
            self.visit(binding.value, set())
            return
        self._plain_local(name, binding)

    def _form_value(self, name: cst.Name) -> None:
        chain = self._climb(name)
        code = self.an.code(chain)
        if ".cleaned_data" not in code:
            self.plan.problems.append(
                f"`{name.value}` (a form) is used as `{code}`: it cannot travel to a task"
            )
        param = self._param(f"expr:{code}", _chain_param_name(chain), annotation="Any", value=code)
        self.replacements[chain] = cst.Name(param.name)

    def _plain_local(self, name: cst.Name, binding: _Binding) -> None:
        local = name.value
        value = f"str({local})" if _is_uuid(binding, self.an) else local
        annotation = _local_annotation(binding, self.an)
        if binding.kind == "assign" and isinstance(binding.value, cst.Name):
            alias = binding.value.value
            if alias == "request" or alias in self.locals and self.model_of(alias) is not None:
                self.plan.problems.append(
                    f"`{local}` is another name for `{alias}`, which cannot travel to a task"
                )
        if binding.kind in {"with", "aug"}:
            self.plan.problems.append(f"`{local}` is bound by a `with` block or changed in place")
        if binding.kind == "assign" and isinstance(binding.value, cst.Call):
            cls = (_dotted(binding.value.func) or "").split(".")[-1]
            if cls[:1].isupper():
                # An instance (an EmailMessage, a client) is no JSON value: the backend refuses it at enqueue.
                self.plan.problems.append(
                    f"`{local}` is an instance of {cls}, which cannot travel to a task: build it there"
                )
        param = self._param(f"local:{local}", local, annotation=annotation, value=value)
        if param.name != local:
            self.renames[local] = param.name
            self.replacements[name] = cst.Name(param.name)

    # -- output ---------------------------------------------------------------------------------------
    def rendered(self, node: cst.CSTNode) -> str:
        transformed = node.visit(_Replace(self.replacements))
        assert isinstance(transformed, cst.CSTNode)  # only expressions are replaced, never removed
        return self.an.module.code_for_node(transformed)


_SIMPLE_ANNOTATIONS = frozenset({"int", "str", "float", "bool"})


def _is_uuid(binding: _Binding, an: _Analyzer) -> bool:
    return binding.annotation is not None and an.code(binding.annotation) in {"uuid.UUID", "UUID"}


def _local_annotation(binding: _Binding, an: _Analyzer) -> str:
    if _is_uuid(binding, an):
        return "str"  # UUIDs are not JSON: the task gets the string, which Django's lookups accept
    if binding.annotation is not None:
        ann = an.code(binding.annotation)
        return ann if ann in _SIMPLE_ANNOTATIONS else "Any"
    if binding.kind == "assign" and _rooted_at_request(binding.value):
        return "str"  # request.LANGUAGE_CODE, request.POST["x"], request.get_host(): strings
    return _literal_annotation(binding.value) if binding.kind == "assign" else "Any"


def _rooted_at_request(value: cst.BaseExpression | None) -> bool:
    node: cst.BaseExpression | None = value
    while isinstance(node, (cst.Attribute, cst.Subscript, cst.Call)):
        node = node.func if isinstance(node, cst.Call) else node.value
    return isinstance(node, cst.Name) and node.value == "request" and value is not node


def _rebuildable(value: cst.BaseExpression) -> bool:
    """A literal built from other values (a context dict, an f-string): cheap and safe to rebuild."""
    if not isinstance(
        value,
        (
            cst.Dict,
            cst.List,
            cst.Tuple,
            cst.Set,
            cst.FormattedString,
            cst.ConcatenatedString,
            cst.BinaryOperation,
        ),
    ):
        return False
    calls: list[cst.Call] = []

    class _V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            calls.append(node)

    value.visit(_V())
    for call in calls:
        name = _call_name(call)
        if isinstance(call.func, cst.Name) and name not in _PURE_CALLS:
            return False
        if name in _ORM_WRITES:
            return False
    return True


USER_MODEL = ModelRef("user_model", None)

_TREES: dict[tuple[str, str], ast.Module | None] = {}


def _project_file(project: ProjectInfo, module: str) -> Path | None:
    if project.root is None:
        return None
    base = project.root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parse_project_module(project: ProjectInfo, module: str) -> ast.Module | None:
    path = _project_file(project, module)
    if path is None:
        return None
    key = (str(path), str(path.stat().st_mtime_ns))
    if key not in _TREES:
        try:
            _TREES[key] = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            _TREES[key] = None
    return _TREES[key]


def _project_models(project: ProjectInfo) -> list[str]:
    if project.root is None:
        return []
    out = []
    for top in sorted(project.first_party):
        for path in sorted((project.root / top).glob("**/models.py"))[:50]:
            out.append(module_name(path.relative_to(project.root).as_posix()))
    return out


def _model_in_module(project: ProjectInfo, module: str, name: str, tree: ast.Module) -> ModelRef:
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = absolute_module(node.module or "", node.level, module)
                    if alias.name in _USER_BASES and source.startswith("django.contrib.auth"):
                        return USER_MODEL
                    return ModelRef(name, source)
        elif isinstance(node, ast.ClassDef) and node.name == name:
            return ModelRef(name, module)
    return ModelRef(name, module, verified=False)


def analyze(
    code: str, rel_file: str, line: int, function: str | None, project: ProjectInfo
) -> CallSitePlan | None:
    """The plan for moving the statement at ``line`` of ``function`` into a task; None when not found."""
    an = _analyzer(code, rel_file, project)
    if an is None:
        return None
    fn = an.function_at(line, function)
    if fn is None:
        return None
    lines = [s for s in an.collector.lines if an.within(s, fn) and _spans(an.range(s), line)]
    if lines:
        stmt: cst.CSTNode = max(lines, key=lambda s: an.range(s).start.line)
    else:
        compounds = [c for c in an.collector.compounds if an.within(c, fn) and _spans(an.range(c), line)]
        if not compounds:
            return None
        stmt = max(compounds, key=lambda c: an.range(c).start.line)
    return _plan(an, fn, stmt, line)


@functools.lru_cache(maxsize=64)
def _wrapper(code: str) -> MetadataWrapper:
    # A wrapper keeps the metadata it resolved: analysis and rewrite of one file share one parse.
    return MetadataWrapper(cst.parse_module(code), unsafe_skip_copy=True)


@functools.lru_cache(maxsize=64)
def _analyzer(code: str, rel_file: str, project: ProjectInfo) -> _Analyzer | None:
    # One parse per file, however many findings it holds (libcst's metadata is the slow part).
    try:
        return _Analyzer(code, rel_file, project)
    except cst.ParserSyntaxError:
        return None


def _spans(r: CodeRange, line: int) -> bool:
    return r.start.line <= line <= r.end.line


def _units(
    an: _Analyzer, fn: cst.FunctionDef, stmt: cst.CSTNode
) -> tuple[cst.CSTNode, cst.CSTNode, list[cst.CSTNode]]:
    """(what moves into the task, what the enqueue replaces, the latter's ancestors in the function)."""
    ancestors = an.enclosing(stmt, fn)
    moved = stmt
    if isinstance(stmt, cst.SimpleStatementLine) and len(ancestors) >= 2:
        block, owner = ancestors[0], ancestors[1]
        if (
            isinstance(owner, cst.For)
            and isinstance(block, cst.IndentedBlock)
            and len(block.body) == 1
            and owner.orelse is None
            and owner.asynchronous is None
        ):
            moved = owner  # one task for the whole loop, not one per item
            ancestors = an.enclosing(moved, fn)
    if _only_logging_try(ancestors):
        # ``try: send_mail(...) except SMTPException: logger.warning(...)``: the task's retries and the
        # worker's log take the handler's place, so the whole statement goes.
        return moved, ancestors[1], an.enclosing(ancestors[1], fn)
    return moved, moved, ancestors


def _plan(an: _Analyzer, fn: cst.FunctionDef, stmt: cst.CSTNode, line: int) -> CallSitePlan:
    moved, unit, ancestors = _units(an, fn, stmt)
    r = an.range(unit)
    call = _first_call(stmt)
    plan = CallSitePlan(
        file=an.rel_file,
        function=fn.name.value,
        line=r.start.line,
        column=r.start.column,
        callee=_call_name(call) if call is not None else "work",
        code=an.code(unit).strip("\n"),
        loop=isinstance(moved, cst.For),
        unwrapped_try=unit is not moved,
    )
    plan.in_atomic = any(
        isinstance(a, cst.With) and any(_is_atomic(item.item) for item in a.items) for a in ancestors
    ) or any(_is_atomic(d.decorator) for d in fn.decorators)
    work: cst.CSTNode
    if isinstance(stmt, cst.SimpleStatementLine):
        smalls = stmt.body
        first = smalls[0]
        if len(smalls) != 1:
            plan.problems.append("the line holds several statements")
        if isinstance(first, cst.Expr) and isinstance(first.value, cst.Call):
            work = moved
        elif isinstance(first, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Return)) and call is not None:
            plan.problems.append(f"the value of `{plan.callee}(...)` is used by the code that follows")
            work = cst.SimpleStatementLine(body=[cst.Expr(value=call)])
        else:
            plan.problems.append("the statement is not a plain call")
            work = unit
    else:
        plan.problems.append("the slow call sits in the header of an if/with/for/while/try statement")
        work = cst.SimpleStatementLine(body=[cst.Expr(value=call)]) if call is not None else stmt
    _flow_problems(plan, work, fn)
    planner = _Planner(an, fn, unit, plan)
    planner.visit(work, set())
    prelude = sorted(dict.fromkeys(planner.prelude_nodes), key=lambda s: an.range(s).start.line)
    plan.prelude = [planner.rendered(s).strip("\n") for s in prelude]
    plan.body = planner.rendered(work).strip("\n")
    plan.removals = _dead_after_move(an, fn, unit, [*prelude, *dict.fromkeys(planner.import_nodes)])
    everything = _Names()
    unit.visit(everything)
    for name in everything.loads:
        binding = an.module_bindings.get(name.value)
        if isinstance(binding, ImportSpec) and binding not in plan.unused_after:
            plan.unused_after.append(binding)
    return plan


def _flow_problems(plan: CallSitePlan, work: cst.CSTNode, fn: cst.FunctionDef) -> None:
    names = _Names()
    work.visit(names)
    for what in names.flow:
        plan.problems.append(f"the code holds {what}, which cannot move into a task")
    if fn.asynchronous is not None:
        plan.problems.append(
            "the view is async: enqueue through sync_to_async (or the backend's async API, such as "
            "Django's `aenqueue`), since transaction.on_commit is synchronous"
        )
    plan.orm_write = plan.callee in _ORM_WRITES
    if plan.orm_write:
        plan.problems.append(f"`{plan.callee}()` writes to the database, which the request must do itself")


def _only_logging_try(ancestors: list[cst.CSTNode]) -> bool:
    """The moved code is the whole body of a ``try`` whose handlers only log (or pass)."""
    if len(ancestors) < 2:
        return False
    block, owner = ancestors[0], ancestors[1]
    if not (isinstance(owner, cst.Try) and isinstance(block, cst.IndentedBlock) and owner.body is block):
        return False
    if len(block.body) != 1 or owner.orelse is not None or owner.finalbody is not None:
        return False
    for handler in owner.handlers:
        for stmt in handler.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                return False
            for small in stmt.body:
                if isinstance(small, cst.Pass):
                    continue
                call = small.value if isinstance(small, cst.Expr) else None
                func = _dotted(call.func) if isinstance(call, cst.Call) else None
                if func is None or func.split(".")[0] not in {"logger", "logging", "log", "LOGGER"}:
                    return False
    return True


def _dead_after_move(
    an: _Analyzer, fn: cst.FunctionDef, unit: cst.CSTNode, prelude: list[cst.SimpleStatementLine]
) -> list[tuple[int, int]]:
    """Rebuilt assignments (a context dict) that nothing at the call site reads once the work has moved."""
    names = _Names()
    fn.body.visit(names)
    inside: dict[int, set[int]] = {}  # id(statement) -> ids of the Name nodes within it

    def name_ids(node: cst.CSTNode) -> set[int]:
        if id(node) not in inside:
            sub = _Names()
            node.visit(sub)
            inside[id(node)] = {id(n) for n in sub.loads}
        return inside[id(node)]

    dead: list[cst.SimpleStatementLine] = []
    changed = True
    while changed:
        changed = False
        for stmt in prelude:
            if stmt in dead:
                continue
            block = an.parents.get(stmt)
            if not isinstance(block, cst.IndentedBlock) or len(block.body) < 2:
                continue
            bound = _bound_by(stmt)
            if not bound:
                continue
            ignored = name_ids(unit) | name_ids(stmt)
            for other in dead:
                ignored |= name_ids(other)
            if not any(n.value in bound and id(n) not in ignored for n in names.loads):
                dead.append(stmt)
                changed = True
    return [(an.range(s).start.line, an.range(s).start.column) for s in dead]


def _bound_by(stmt: cst.SimpleStatementLine) -> set[str]:
    """The names a one-line assignment or import binds (empty for anything else)."""
    small = stmt.body[0]
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
    ):
        return {small.targets[0].target.value}
    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
        return {small.target.value}
    if (
        isinstance(small, cst.Import)
        or isinstance(small, cst.ImportFrom)
        and not isinstance(small.names, cst.ImportStar)
    ):
        names = small.names
        assert not isinstance(names, cst.ImportStar)
        return {_alias_asname(a) or (_dotted(a.name) or "").split(".")[0] for a in names}
    return set()


def rewrite_module(
    code: str,
    changes: Sequence[tuple[CallSitePlan, str, list[ImportSpec]]],
    first_party: frozenset[str] = frozenset(),
) -> str:
    """Replace each planned statement with its enqueue code, add the imports, drop imports left unused."""
    wrapper = _wrapper(code)  # the analysis already resolved its positions
    by_position = {(plan.line, plan.column): new for plan, new, _ in changes}
    removals = {position for plan, _, _ in changes for position in plan.removals}

    module: cst.Module = wrapper.visit(_Rewrite(by_position, removals))
    if not changes:
        return module.code
    rel_file = changes[0][0].file
    imports = _Imports(module, module_name(rel_file), rel_file.endswith("__init__.py"), first_party)
    for plan, _, _ in changes:
        for spec in plan.unused_after:
            imports.remove_if_unused(spec)
    for _, _, needed in changes:
        for spec in needed:
            imports.add(spec)
    return imports.module.code


class _Rewrite(cst.CSTTransformer):
    """Swaps planned statements for their enqueue code and drops rebuilt locals nothing reads any more."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, by_position: dict[tuple[int, int], str], removals: set[tuple[int, int]]) -> None:
        super().__init__()
        self.by_position = by_position
        self.removals = removals

    def _swap(self, original: cst.CSTNode, updated: Any) -> Any:
        r = self.get_metadata(PositionProvider, original)
        new = self.by_position.get((r.start.line, r.start.column))
        if new is None:
            return updated
        statement = cst.parse_statement(new)
        return statement.with_changes(leading_lines=getattr(updated, "leading_lines", ()))

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: Any) -> Any:
        return self._swap(original, updated)

    def leave_For(self, original: cst.For, updated: Any) -> Any:
        return self._swap(original, updated)

    def leave_Try(self, original: cst.Try, updated: Any) -> Any:
        return self._swap(original, updated)

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> Any:
        body: list[cst.BaseStatement] = []
        carried: Sequence[cst.EmptyLine] = ()
        for before, after in zip(original.body, updated.body, strict=True):
            r = self.get_metadata(PositionProvider, before)
            if (r.start.line, r.start.column) in self.removals:
                # A removed statement's blank line (or comment) stays, above whatever follows it.
                carried = carried or getattr(after, "leading_lines", ())
                continue
            if carried and not getattr(after, "leading_lines", ()):
                after = after.with_changes(leading_lines=carried)
            carried = ()
            body.append(after)
        return updated.with_changes(body=body)


class _Imports:
    """Edits a module's leading import block the way isort would lay it out."""

    def __init__(
        self, module: cst.Module, dotted: str, is_package: bool, first_party: frozenset[str]
    ) -> None:
        self.module = module
        self.dotted = dotted
        self.is_package = is_package
        self.first_party = first_party | {dotted.split(".")[0]}
        self._used: set[str] | None = None
        self.uses_relative = any(
            isinstance(small, cst.ImportFrom) and small.relative for _, small in self._block()
        )

    def _block(self) -> list[tuple[int, cst.Import | cst.ImportFrom]]:
        out: list[tuple[int, cst.Import | cst.ImportFrom]] = []
        for i, stmt in enumerate(self.module.body):
            if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
                if i == 0 and isinstance(stmt, cst.SimpleStatementLine):
                    continue
                break
            small = stmt.body[0]
            if isinstance(small, (cst.Import, cst.ImportFrom)):
                out.append((i, small))
            elif not (i == 0 and isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString)):
                break
        return out

    def _absolute(self, node: cst.ImportFrom) -> str:
        return absolute_module(_import_module_name(node), len(node.relative), self.dotted, self.is_package)

    def _key(self, node: cst.Import | cst.ImportFrom) -> tuple[int, int, str]:
        if isinstance(node, cst.Import):
            module = _dotted(node.names[0].name) or ""
            return self._section(module, False), 0, module.lower()
        relative = "." * len(node.relative)
        module = relative + _import_module_name(node)
        return self._section(module, bool(relative)), 1, module.lower()

    def _section(self, module: str, relative: bool) -> int:
        top = module.split(".")[0]
        if relative:
            return 4
        if top == "__future__":
            return 0
        if top in _STDLIB_NAMES:
            return 1
        return 3 if top in self.first_party else 2

    def _used_names(self) -> set[str]:
        # Import edits never change which names the code reads: one walk per rewrite.
        if self._used is not None:
            return self._used
        names: set[str] = set()

        class _V(cst.CSTVisitor):
            def visit_Import(self, node: cst.Import) -> bool:
                return False

            def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
                return False

            def visit_Name(self, node: cst.Name) -> None:
                names.add(node.value)

        self.module.visit(_V())
        self._used = names
        return names

    def _replace_body(
        self, index: int, new: cst.SimpleStatementLine | cst.BaseCompoundStatement | None
    ) -> None:
        body = list(self.module.body)
        if new is None:
            removed = body.pop(index)
            if index < len(body) and isinstance(removed, cst.SimpleStatementLine):
                following = body[index]
                if not getattr(following, "leading_lines", ()) and removed.leading_lines:
                    body[index] = following.with_changes(leading_lines=removed.leading_lines)
        else:
            body[index] = new
        self.module = self.module.with_changes(body=body)

    def remove_if_unused(self, spec: ImportSpec) -> None:
        local = spec.asname or spec.name or spec.module.split(".")[0]
        if local in self._used_names():
            return
        if spec.name is None:
            self._remove_plain(spec, local)
            return
        for index, node in self._block():
            if not isinstance(node, cst.ImportFrom) or isinstance(node.names, cst.ImportStar):
                continue
            if self._absolute(node) != spec.module:
                continue
            keep = [a for a in node.names if _alias_local(a) != local]
            if len(keep) == len(node.names):
                continue
            if not keep:
                self._replace_body(index, None)
            else:
                stmt = self.module.body[index]
                assert isinstance(stmt, cst.SimpleStatementLine)
                if node.lpar is None:
                    keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                self._replace_body(index, stmt.with_changes(body=[node.with_changes(names=keep)]))
            return

    def _remove_plain(self, spec: ImportSpec, local: str) -> None:
        for index, node in self._block():
            if not isinstance(node, cst.Import):
                continue
            keep = [
                a for a in node.names if (_alias_asname(a) or (_dotted(a.name) or "").split(".")[0]) != local
            ]
            if len(keep) == len(node.names):
                continue
            if not keep:
                self._replace_body(index, None)
            else:
                stmt = self.module.body[index]
                assert isinstance(stmt, cst.SimpleStatementLine)
                keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                self._replace_body(index, stmt.with_changes(body=[node.with_changes(names=keep)]))
            return

    def add(self, spec: ImportSpec) -> None:
        if (
            spec.name is not None
            and self.uses_relative
            and spec.module.rpartition(".")[0]
            == (self.dotted if self.is_package else self.dotted.rpartition(".")[0])
        ):
            # The module imports its own package relatively (``from .models import Team``): so does the task.
            spec = ImportSpec("." + spec.module.rpartition(".")[2], spec.name, spec.asname)
        absolute = absolute_module(
            spec.module.lstrip("."),
            len(spec.module) - len(spec.module.lstrip(".")),
            self.dotted,
            self.is_package,
        )
        block = self._block()
        for index, node in block:
            if spec.name is None and isinstance(node, cst.Import):
                if any(_dotted(a.name) == spec.module and a.asname is None for a in node.names):
                    return
            elif (
                spec.name is not None
                and isinstance(node, cst.ImportFrom)
                and self._absolute(node) == absolute
            ):
                if isinstance(node.names, cst.ImportStar):
                    return
                members = [
                    self.module.code_for_node(a.with_changes(comma=cst.MaybeSentinel.DEFAULT))
                    for a in node.names
                ]
                wanted = spec.name + (f" as {spec.asname}" if spec.asname else "")
                if wanted in members:
                    return
                stmt = self.module.body[index]
                module_text = "." * len(node.relative) + _import_module_name(node)
                text = "\n".join(_from_lines(module_text, sorted({*members, wanted}, key=_member_sort_key)))
                new = cst.parse_statement(text + "\n")
                self._replace_body(index, new.with_changes(leading_lines=stmt.leading_lines))
                return
        self._insert(spec, block)

    def _insert(self, spec: ImportSpec, block: list[tuple[int, cst.Import | cst.ImportFrom]]) -> None:
        new = cst.parse_statement(spec.line() + "\n")
        assert isinstance(new, cst.SimpleStatementLine)
        small = new.body[0]
        assert isinstance(small, (cst.Import, cst.ImportFrom))
        key = self._key(small)
        body = list(self.module.body)
        same = [(i, self._key(n)) for i, n in block if self._key(n)[0] == key[0]]
        blank = (cst.EmptyLine(),)
        if same:
            later = [i for i, k in same if k > key]
            if later:
                target = body[later[0]]
                new = new.with_changes(leading_lines=getattr(target, "leading_lines", ()))
                body[later[0]] = target.with_changes(leading_lines=())
                body.insert(later[0], new)
            else:
                body.insert(same[-1][0] + 1, new)
        else:
            lower = [i for i, n in block if self._key(n)[0] < key[0]]
            if lower:
                body.insert(lower[-1] + 1, new.with_changes(leading_lines=blank))
            elif block:
                first = block[0][0]
                target = body[first]
                new = new.with_changes(leading_lines=getattr(target, "leading_lines", ()))
                body[first] = target.with_changes(leading_lines=blank)
                body.insert(first, new)
            else:
                at = 1 if body and _is_docstring(body[0]) else 0
                body.insert(at, new.with_changes(leading_lines=blank if at else ()))
        self.module = self.module.with_changes(body=body)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _alias_local(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return _dotted(alias.name) or ""


def unified_diff(old: str, new: str, rel_file: str) -> str:
    """A ``git apply``-able unified diff of one file."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel_file}", f"b/{rel_file}"
    )
    out = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)
