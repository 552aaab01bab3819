"""Entry points and the project's call graph.

Entry points are the views the URLconfs route to (``path``, ``re_path``, ``include`` and Django REST framework
routers), with their handler methods for class-based views and viewsets; views no URLconf names are still
entry points, without a route. From them the graph follows the project's own calls: helpers and methods,
``super()``, forms' and serializers' ``save``, model saves and deletes (their overrides and the signal
receivers they fire, connected by ``@receiver`` or ``connect``), custom signals, and functions handed to
``transaction.on_commit``. The generic views' implicit work (``CreateView`` saving its form, DRF's
``perform_create``) is followed too.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass, field

from async_audit.scan import catalog
from async_audit.scan.index import CallInfo, ClassInfo, FunctionInfo, ModuleIndex
from async_audit.scan.project import Parts, Project, Resolved

_DJANGO_SIGNALS = {"pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed"}
_SAVE_SIGNALS = ("pre_save", "post_save")
_DELETE_SIGNALS = ("pre_delete", "post_delete")
_MANAGER_SAVES = {"create", "get_or_create", "update_or_create"}

# Handler methods of class-based views and viewsets, with the HTTP method that runs them (None: any).
HANDLERS: dict[str, str | None] = {
    "dispatch": None,
    "setup": None,
    "initial": None,
    "get": "GET",
    "head": "HEAD",
    "options": "OPTIONS",
    "post": "POST",
    "put": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "get_context_data": "GET",
    "get_queryset": "GET",
    "get_object": None,
    "get_initial": "GET",
    "get_form_kwargs": None,
    "form_valid": "POST",
    "form_invalid": "POST",
    "get_success_url": "POST",
    "list": "GET",
    "retrieve": "GET",
    "create": "POST",
    "update": "PUT",
    "partial_update": "PATCH",
    "destroy": "DELETE",
    "perform_create": "POST",
    "perform_update": "PUT",
    "perform_destroy": "DELETE",
}
_DETAIL_HANDLERS = {"retrieve", "update", "partial_update", "destroy", "perform_update", "perform_destroy"}
_VIEW_BASE_HINTS = ("View", "ViewSet", "APIView", "ViewSetMixin")
_TASK_DECORATORS = {
    "shared_task": "celery",
    "task": "celery",
    "periodic_task": "celery",
    "actor": "dramatiq",
    "db_task": "huey",
    "db_periodic_task": "huey",
}


@dataclass(frozen=True)
class Event:
    """A graph node that is not a project function: a model saved or deleted, a signal sent, a view's
    implicit work (``ClassName.post`` of a ``CreateView``)."""

    kind: str  # "save", "delete", "signal", "implicit"
    key: str
    cls: ClassInfo | None = field(default=None, compare=False, hash=False)


Node = FunctionInfo | Event


@dataclass(frozen=True)
class Edge:
    target: Node
    call: CallInfo | None  # None for implicit edges
    func: FunctionInfo | None  # the function holding the call
    note: str = ""  # "on_commit", "signal post_save", ...


@dataclass
class Entry:
    """Where a request enters the project's code."""

    node: Node
    method: str | None
    route: str | None
    view: str  # dotted path of the view (function or class)
    kind: str = "view"  # "view", or for code no view was found to reach: "receiver", "save", "form"


@dataclass
class Found:
    """A slow call inside a project function."""

    func: FunctionInfo
    call: CallInfo
    slow: catalog.SlowCall


@dataclass
class Graph:
    """Lazily built: each function's slow calls and outgoing edges are computed once, when first reached."""

    project: Project
    settings: ModuleIndex | None = None
    max_depth: int = 8
    inline: set[str] = field(default_factory=set)  # task systems configured to run tasks in the request
    _analysed: dict[int, tuple[list[Found], list[Edge]]] = field(default_factory=dict)
    _event_edges: dict[Event, list[Edge]] = field(default_factory=dict)
    _task_libs: dict[int, str | None] = field(default_factory=dict)
    reverse: dict[Node, list[tuple[Node, Edge]]] = field(default_factory=dict)
    _receivers: dict[str, list[tuple[str | None, FunctionInfo]]] | None = None
    _models: dict[str, ClassInfo] | None = None
    callers: dict[int, list[tuple[FunctionInfo, CallInfo]]] = field(default_factory=dict)

    # -- per function ------------------------------------------------------------------------------------

    def analyse(self, func: FunctionInfo) -> tuple[list[Found], list[Edge]]:
        known = self._analysed.get(id(func))
        if known is not None:
            return known
        found: list[Found] = []
        edges: list[Edge] = []
        for call in func.calls:
            self._call(func, call, found, edges)
        for edge in edges:
            if isinstance(edge.target, FunctionInfo) and edge.call is not None:
                self.callers.setdefault(id(edge.target), []).append((func, edge.call))
        result = (found, edges)
        self._analysed[id(func)] = result
        return result

    def _call(self, func: FunctionInfo, call: CallInfo, found: list[Found], edges: list[Edge]) -> None:
        node = call.node
        resolved = self.project.resolve(node.func, func.module, func)
        if resolved is None:
            return
        target = resolved.target
        if not catalog.may_match(resolved.parts, target is not None and target.kind == "function"):
            edges.extend(self._edges(func, call, resolved))
            return
        module = func.module
        ctx = catalog.CallContext(
            call=node,
            ctors=resolved.ctors,
            constant=lambda expr: self.project.constant(expr, module, self.settings, 0, func),
            names=lambda expr: self.project.identifiers(expr, func),
            task_lib=self.task_lib,
        )
        slow = catalog.match(resolved.parts, ctx)
        if slow is not None:
            found.append(Found(func, call, slow))
            if slow.kind == "task" and slow.lib in self.inline and slow.task_function is not None:
                # An in-process backend runs the task right here: its work is the request's work.
                task = self.project.canonical(tuple(slow.task_function.split("."))).target
                if task is not None and task.function is not None and not task.rest:
                    edges.append(Edge(task.function, call, func, f"runs inline ({slow.lib})"))
            return
        edges.extend(self._edges(func, call, resolved))

    def _edges(self, func: FunctionInfo, call: CallInfo, resolved: Resolved) -> list[Edge]:  # noqa: C901
        node = call.node
        target = resolved.target
        parts = resolved.parts
        name = parts[-1] if parts else ""
        out: list[Edge] = []
        if name in ("on_commit",) or parts[-2:] == ("transaction", "on_commit"):
            for arg in node.args[:1]:
                ref = self.project.resolve(arg, func.module, func)
                if ref is not None and ref.target is not None and ref.target.function is not None:
                    if not ref.target.rest:
                        out.append(Edge(ref.target.function, call, func, "on_commit"))
            return out
        if name in ("send", "send_robust", "asend") and isinstance(node.func, ast.Attribute):
            key = self.signal_key(node.func.value, func.module, func)
            if key is not None and key not in _DJANGO_SIGNALS:
                return [Edge(Event("signal", key), call, func, f"signal {key}")]
        if target is None:
            if name in ("save", "delete") and len(parts) >= 2:
                cls = self._guess_owner(func, parts[:-1])
                if cls is not None:
                    return self._save_or_delete(cls, name, call, func)
            return out
        if target.kind in ("function", "method") and target.function is not None and not target.rest:
            out.append(Edge(target.function, call, func))
        elif target.kind == "class" and target.cls is not None and not target.rest:
            init = self.project.method(target.cls, "__init__")
            if init is not None:
                out.append(Edge(init, call, func))
        elif target.kind == "instance" and target.cls is not None and len(target.rest) == 1:
            if target.rest[0] in ("save", "delete"):
                out.extend(self._save_or_delete(target.cls, target.rest[0], call, func))
        elif target.kind == "manager" and target.cls is not None:
            if target.rest[-1] in _MANAGER_SAVES:
                out.append(Edge(Event("save", target.cls.dotted, target.cls), call, func))
            elif target.rest[-1] == "delete":
                out.append(Edge(Event("delete", target.cls.dotted, target.cls), call, func))
        return out

    def _save_or_delete(
        self, cls: ClassInfo, op: str, call: CallInfo | None, func: FunctionInfo | None
    ) -> list[Edge]:
        """``obj.save()`` on a model, form or serializer of the project."""
        out: list[Edge] = []
        own = self.project.method(cls, op)
        if own is not None and (func is None or own is not func):
            out.append(Edge(own, call, func))
        model = self.model_of(cls)
        if model is not None and (own is None or model is not cls):
            out.append(Edge(Event(op, model.dotted, model), call, func))
        if op == "save" and model is not None and model is not cls:
            for hook in ("create", "update"):  # DRF serializers' save() calls create() or update()
                method = self.project.method(cls, hook)
                if method is not None:
                    out.append(Edge(method, call, func))
        return out

    def _guess_owner(self, func: FunctionInfo, receiver: Parts) -> ClassInfo | None:
        """The class of an untyped receiver: ``form`` or ``serializer`` in a view, ``order`` for Order."""
        last = receiver[-1]
        if func.cls is not None and last in ("form", "serializer"):
            attr = "form_class" if last == "form" else "serializer_class"
            cls = self._class_attr(func.cls, attr)
            if cls is not None:
                return cls
            if last == "form":
                model = self._class_attr(func.cls, "model")
                if model is not None:
                    return model
        if last in ("object", "instance", "obj") and func.cls is not None:
            model = self._class_attr(func.cls, "model")
            if model is not None:
                return model
        return self.models().get(last.replace("_", "").lower())

    def _class_attr(self, cls: ClassInfo, attr: str) -> ClassInfo | None:
        for current in self.project.mro(cls):
            value = current.attrs.get(attr) or current.meta.get(attr)
            if value is not None:
                resolved = self.project.resolve(value, current.module, None)
                if resolved is not None and resolved.target is not None and resolved.target.kind == "class":
                    return resolved.target.cls
        return None

    def model_of(self, cls: ClassInfo) -> ClassInfo | None:
        """The model a class is (a Django model) or is about (``Meta.model`` of a ModelForm or serializer)."""
        if any(
            base.endswith(("models.Model", "models.base.Model")) for base in self.project.outside_bases(cls)
        ):
            return cls
        if self.models().get(cls.name.lower()) is cls:
            return cls
        for current in self.project.mro(cls):
            value = current.meta.get("model")
            if value is not None:
                resolved = self.project.resolve(value, current.module, None)
                if resolved is not None and resolved.target is not None and resolved.target.cls is not None:
                    return resolved.target.cls
        return None

    def models(self) -> dict[str, ClassInfo]:
        """Project classes deriving from Django's Model, by lower-case name."""
        if self._models is None:
            models: dict[str, ClassInfo] = {}
            for module in self.project.unique_modules():
                if "models" not in module.imports and not any("models" in p for p in module.imports.values()):
                    continue
                for cls in module.classes.values():
                    bases = self.project.outside_bases(cls)
                    if any(b.endswith(("models.Model", "models.base.Model")) for b in bases):
                        models.setdefault(cls.name.lower(), cls)
            self._models = models
        return self._models

    # -- tasks and signals -------------------------------------------------------------------------------

    def task_lib(self, parts: Parts) -> str | None:
        """The task system a project function's decorator registers it with, if any."""
        resolved = self.project.canonical(parts)
        target = resolved.target
        if target is None or target.function is None or target.rest:
            return None
        func = target.function
        if id(func) not in self._task_libs:
            self._task_libs[id(func)] = self._decorated_task(func)
        return self._task_libs[id(func)]

    def _decorated_task(self, func: FunctionInfo) -> str | None:
        for decorator in func.node.decorator_list:
            expr = decorator.func if isinstance(decorator, ast.Call) else decorator
            ref = self.project.resolve(expr, func.module, None)
            if ref is None:
                continue
            name = ref.parts[-1]
            root = ref.parts[0]
            if root in ("django", "django_tasks") and name == "task":
                return "django.tasks"
            if root in ("dramatiq",) or name == "actor":
                return "dramatiq" if name == "actor" else None
            if root == "huey" or any(p == "huey" or p.endswith("Huey") for p in ref.parts):
                if name in ("task", "db_task", "periodic_task", "db_periodic_task"):
                    return "huey"
            if name in _TASK_DECORATORS:
                return _TASK_DECORATORS[name]
        return None

    def signal_key(self, expr: ast.expr, module: ModuleIndex, func: FunctionInfo | None) -> str | None:
        resolved = self.project.resolve(expr, module, func)
        if resolved is None:
            return None
        if resolved.parts[-1] in _DJANGO_SIGNALS:
            return resolved.parts[-1]
        raw = self.project._raw(expr, module, func, 0)
        if raw is None:
            return None
        return ".".join(raw[0])

    def receivers(self) -> dict[str, list[tuple[str | None, FunctionInfo]]]:
        """Signal key -> (sender's dotted name or None, receiver), from ``@receiver`` and ``connect``."""
        if self._receivers is not None:
            return self._receivers
        found: dict[str, list[tuple[str | None, FunctionInfo]]] = {}
        for module in self.project.unique_modules():
            for func in list(module.functions.values()):
                for decorator in func.node.decorator_list:
                    if (
                        isinstance(decorator, ast.Call)
                        and _name(decorator.func) == "receiver"
                        and decorator.args
                    ):
                        for key in self._signal_keys(decorator.args[0], module, None):
                            found.setdefault(key, []).append((self._sender(decorator, module, None), func))
                if module.eager:  # only a module that says ".connect(" connects anything in its functions
                    for call in func.calls:
                        self._connect(call.node, module, func, found)
            for node in module.module_calls:
                self._connect(node, module, None, found)
        self._receivers = found
        return found

    def _connect(
        self,
        node: ast.Call,
        module: ModuleIndex,
        func: FunctionInfo | None,
        found: dict[str, list[tuple[str | None, FunctionInfo]]],
    ) -> None:
        if not (isinstance(node.func, ast.Attribute) and node.func.attr == "connect"):
            return
        handler = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg == "receiver":
                handler = keyword.value
        if handler is None:
            return
        ref = self.project.resolve(handler, module, func)
        if ref is None or ref.target is None or ref.target.function is None or ref.target.rest:
            return
        for key in self._signal_keys(node.func.value, module, func):
            found.setdefault(key, []).append((self._sender(node, module, func), ref.target.function))

    def _signal_keys(self, expr: ast.expr, module: ModuleIndex, func: FunctionInfo | None) -> list[str]:
        if isinstance(expr, (ast.List, ast.Tuple)):
            return [k for elt in expr.elts for k in self._signal_keys(elt, module, func)]
        key = self.signal_key(expr, module, func)
        return [key] if key is not None else []

    def _sender(self, call: ast.Call, module: ModuleIndex, func: FunctionInfo | None) -> str | None:
        for keyword in call.keywords:
            if keyword.arg == "sender":
                ref = self.project.resolve(keyword.value, module, func)
                if ref is not None and ref.target is not None and ref.target.cls is not None:
                    return ref.target.cls.dotted
                if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                    label = keyword.value.value.rsplit(".", 1)[-1].lower()
                    model = self.models().get(label)
                    return model.dotted if model is not None else keyword.value.value
                return "?"
        return None

    # -- events ------------------------------------------------------------------------------------------

    def event_edges(self, event: Event) -> list[Edge]:
        out: list[Edge] = []
        if event.kind in ("save", "delete"):
            cls = event.cls
            if cls is not None:
                own = self.project.method(cls, event.kind)
                if own is not None:
                    out.append(Edge(own, None, None, f"{cls.name}.{event.kind}()"))
            for signal in _SAVE_SIGNALS if event.kind == "save" else _DELETE_SIGNALS:
                for sender, receiver in self.receivers().get(signal, []):
                    if sender is None or sender == event.key or sender == "?":
                        out.append(Edge(receiver, None, None, f"signal {signal}"))
        elif event.kind == "signal":
            for _, receiver in self.receivers().get(event.key, []):
                out.append(Edge(receiver, None, None, f"signal {event.key}"))
        elif event.kind == "implicit" and event.cls is not None:
            out.extend(self._implicit(event))
        return out

    def _implicit(self, event: Event) -> list[Edge]:
        """What a generic view does on its own: save its form, create or update through its serializer."""
        cls = event.cls
        assert cls is not None
        handler = event.key.rsplit(".", 1)[-1]
        note = f"{cls.name}.{handler} (inherited)"
        if handler == "form_valid":
            form = self._class_attr(cls, "form_class") or self._class_attr(cls, "model")
            return (
                [Edge(e.target, None, None, note) for e in self._save_or_delete(form, "save", None, None)]
                if form
                else []
            )
        if handler in ("perform_create", "perform_update"):
            serializer = self._class_attr(cls, "serializer_class")
            if serializer is None:
                return []
            out = [
                Edge(e.target, None, None, note) for e in self._save_or_delete(serializer, "save", None, None)
            ]
            return out
        if handler in ("perform_destroy", "delete"):
            model = self._class_attr(cls, "model")
            if model is None:
                queryset = cls.attrs.get("queryset")
                ref = self.project.resolve(_queryset_model(queryset), cls.module, None) if queryset else None
                model = ref.target.cls if ref is not None and ref.target is not None else None
            return [Edge(Event("delete", model.dotted, model), None, None, note)] if model is not None else []
        return []

    def edges(self, node: Node) -> list[Edge]:
        if isinstance(node, Event):
            known = self._event_edges.get(node)
            if known is None:
                known = self._event_edges[node] = self.event_edges(node)
            return known
        return self.analyse(node)[1]

    # -- reachability ------------------------------------------------------------------------------------

    def build(self, entries: list[Node]) -> list[FunctionInfo]:
        """Analyse what the entry points reach within ``max_depth`` calls, indexing the edges backwards, so
        each slow call can then be traced to its entry points by a search from the call. Returns the
        functions reached."""
        reverse: dict[Node, list[tuple[Node, Edge]]] = {}
        depth: dict[Node, int] = dict.fromkeys(entries, 0)
        queue: deque[Node] = deque(depth)
        while queue:
            node = queue.popleft()
            if depth[node] >= self.max_depth:
                continue
            for edge in self.edges(node):
                reverse.setdefault(edge.target, []).append((node, edge))
                if edge.target not in depth:
                    depth[edge.target] = depth[node] + 1
                    queue.append(edge.target)
        self.reverse = reverse
        return [node for node in depth if isinstance(node, FunctionInfo)]

    def back(self, start: Node) -> dict[Node, tuple[Edge | None, Node | None]]:
        """Breadth-first backwards from ``start``, up to ``max_depth`` calls: every node that reaches it,
        with the edge and node of its first step towards ``start`` (so the paths found are the shortest)."""
        seen: dict[Node, tuple[Edge | None, Node | None]] = {start: (None, None)}
        queue: deque[tuple[Node, int]] = deque([(start, 0)])
        while queue:
            node, depth = queue.popleft()
            if depth >= self.max_depth:
                continue
            for source, edge in self.reverse.get(node, ()):
                if source not in seen:
                    seen[source] = (edge, node)
                    queue.append((source, depth + 1))
        return seen


@dataclass(frozen=True)
class Visit:
    """One step of a path from an entry point: the node reached, by which edge, from which node."""

    node: Node
    edge: Edge
    parent: Node


def path_from(seen: dict[Node, tuple[Edge | None, Node | None]], entry: Node) -> list[Visit]:
    """The steps from ``entry`` to the start of the backward search ``seen``, first step first."""
    visits: list[Visit] = []
    node = entry
    while len(visits) < 64:
        edge, following = seen[node]
        if edge is None or following is None:
            break
        visits.append(Visit(following, edge, node))
        node = following
    return visits


def _name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _queryset_model(expr: ast.expr) -> ast.expr:
    """``Order.objects.all()`` -> ``Order``."""
    current = expr
    while isinstance(current, (ast.Call, ast.Attribute)):
        current = current.func if isinstance(current, ast.Call) else current.value
    return current
