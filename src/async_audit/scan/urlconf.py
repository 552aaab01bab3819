"""Entry points from the URLconfs: ``path``, ``re_path``, ``include`` and Django REST framework routers.

Routes are written the way Django reports ``resolver_match.route``: the patterns of the includes joined, so a
static finding and a recorded one name the same endpoint.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from async_audit.scan.graph import HANDLERS, Entry, Event, Graph
from async_audit.scan.index import ClassInfo, FunctionInfo, ModuleIndex
from async_audit.scan.project import Project

_MAX_INCLUDE_DEPTH = 12
_ROUTER_LIST = ("list", "create")
_ROUTER_DETAIL = ("retrieve", "update", "partial_update", "destroy")
_ACTION_HANDLERS = {
    "list": "GET",
    "create": "POST",
    "retrieve": "GET",
    "update": "PUT",
    "partial_update": "PATCH",
    "destroy": "DELETE",
}
# Generic views whose inherited handlers do work of their own.
_IMPLICIT = {
    "form_valid": ("CreateView", "UpdateView", "ModelFormMixin", "BaseCreateView", "BaseUpdateView"),
    "perform_create": ("CreateModelMixin", "ModelViewSet", "CreateAPIView", "ListCreateAPIView"),
    "perform_update": (
        "UpdateModelMixin",
        "ModelViewSet",
        "UpdateAPIView",
        "RetrieveUpdateAPIView",
        "RetrieveUpdateDestroyAPIView",
    ),
    "perform_destroy": (
        "DestroyModelMixin",
        "ModelViewSet",
        "DestroyAPIView",
        "RetrieveUpdateDestroyAPIView",
    ),
    "delete": ("DeleteView", "BaseDeleteView", "DeletionMixin"),
}


@dataclass
class _View:
    route: str
    target: FunctionInfo | ClassInfo
    actions: dict[str, str] | None = None  # viewset as_view({"get": "list"})
    detail: bool | None = None  # router routes: list (False) or detail (True)


class UrlConfReader:
    """Walks URLconfs from the root ones, following includes, into view entries."""

    def __init__(self, project: Project, graph: Graph) -> None:
        self.project = project
        self.graph = graph
        self.views: list[_View] = []
        self.included: set[str] = set()

    def read(self, root_urlconf: str | None) -> list[Entry]:
        roots: list[ModuleIndex] = []
        if root_urlconf and root_urlconf in self.project.modules:
            roots.append(self.project.modules[root_urlconf])
        else:
            candidates = [m for m in self.project.unique_modules() if m.urlpatterns]
            for module in candidates:
                self._collect(module, "", 0, dry=True)
            roots = [m for m in candidates if m.name not in self.included]
            self.views.clear()
        for module in roots:
            self._collect(module, "", 0)
        return self._entries()

    # -- patterns ----------------------------------------------------------------------------------------

    def _collect(self, module: ModuleIndex, prefix: str, depth: int, dry: bool = False) -> None:
        if depth > _MAX_INCLUDE_DEPTH:
            return
        patterns: list[ast.expr] = list(module.urlpatterns)
        for call in module.module_calls:
            func = call.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "urlpatterns"
                and func.attr in ("append", "extend", "insert")
            ):
                patterns.extend(call.args[-1:])
        for expr in patterns:
            self._patterns(expr, module, prefix, depth, dry)

    def _patterns(self, expr: ast.expr, module: ModuleIndex, prefix: str, depth: int, dry: bool) -> None:  # noqa: C901
        if isinstance(expr, (ast.List, ast.Tuple)):
            for element in expr.elts:
                self._patterns(element, module, prefix, depth, dry)
        elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            self._patterns(expr.left, module, prefix, depth, dry)
            self._patterns(expr.right, module, prefix, depth, dry)
        elif isinstance(expr, ast.Starred):
            self._patterns(expr.value, module, prefix, depth, dry)
        elif isinstance(expr, ast.Attribute) and expr.attr == "urls":
            self._router(expr.value, module, prefix, dry)
        elif isinstance(expr, ast.Name):
            value = module.globals.get(expr.id)
            if value is not None and value is not expr:
                self._patterns(value, module, prefix, depth + 1, dry)
        elif isinstance(expr, ast.Call):
            name = _name(expr.func)
            if name in ("path", "re_path", "url"):
                self._route(expr, module, prefix, depth, dry)
            elif name in ("i18n_patterns", "format_suffix_patterns", "patterns"):
                for arg in expr.args:
                    self._patterns(arg, module, prefix, depth, dry)

    def _route(self, call: ast.Call, module: ModuleIndex, prefix: str, depth: int, dry: bool) -> None:
        if len(call.args) < 2 and not any(k.arg == "view" for k in call.keywords):
            return
        route_expr = call.args[0] if call.args else None
        route = self.project.constant(route_expr, module, None) if route_expr is not None else ""
        route = prefix + (route or "")
        view = call.args[1] if len(call.args) > 1 else next(k.value for k in call.keywords if k.arg == "view")
        if isinstance(view, ast.Call) and _name(view.func) == "include":
            self._include(view, module, route, depth, dry)
            return
        if dry:
            return
        actions = None
        if (
            isinstance(view, ast.Call)
            and isinstance(view.func, ast.Attribute)
            and view.func.attr == "as_view"
        ):
            if view.args and isinstance(view.args[0], ast.Dict):
                actions = {}
                for key, value in zip(view.args[0].keys, view.args[0].values, strict=False):
                    if isinstance(key, ast.Constant) and isinstance(value, ast.Constant):
                        actions[str(key.value)] = str(value.value)
            view = view.func.value
        resolved = self.project.resolve(view, module, None)
        target = resolved.target if resolved is not None else None
        if target is None or target.rest:
            return
        if target.kind == "function" and target.function is not None:
            self.views.append(_View(route, target.function))
        elif target.kind == "class" and target.cls is not None:
            self.views.append(_View(route, target.cls, actions))

    def _include(self, call: ast.Call, module: ModuleIndex, prefix: str, depth: int, dry: bool) -> None:
        arg = call.args[0] if call.args else None
        if arg is None:
            return
        if isinstance(arg, ast.Tuple) and arg.elts:
            arg = arg.elts[0]
        name = self.project.constant(arg, module, None)
        if name is not None:
            included = self.project.modules.get(name)
            if included is not None:
                self.included.add(included.name)
                self._collect(included, prefix, depth + 1, dry)
            return
        if isinstance(arg, (ast.List, ast.BinOp, ast.Attribute)) and not (
            isinstance(arg, ast.Attribute) and arg.attr != "urls"
        ):
            self._patterns(arg, module, prefix, depth + 1, dry)
            return
        resolved = self.project.resolve(arg, module, None)
        if resolved is not None and resolved.target is not None and resolved.target.kind == "module":
            included = resolved.target.module
            if included is not None:
                self.included.add(included.name)
                self._collect(included, prefix, depth + 1, dry)

    def _router(self, expr: ast.expr, module: ModuleIndex, prefix: str, dry: bool) -> None:
        """``router.urls``: the viewsets registered on that router, wherever the router was made."""
        home = module
        name = expr.id if isinstance(expr, ast.Name) else None
        if name is not None and name not in module.globals and name in module.imports:
            resolved = self.project.canonical(module.imports[name])
            target = resolved.target
            split = self.project._module_prefix(module.imports[name])
            if split is not None:
                home = split[0]
                name = split[1][0] if split[1] else name
            del target
        if name is None or dry:
            return
        for owner in {id(home): home, id(module): module}.values():
            for call in owner.module_calls:
                func = call.func
                if not (
                    isinstance(func, ast.Attribute)
                    and func.attr == "register"
                    and isinstance(func.value, ast.Name)
                    and func.value.id == name
                    and len(call.args) >= 2
                ):
                    continue
                route = self.project.constant(call.args[0], owner, None) or ""
                registered = self.project.resolve(call.args[1], owner, None)
                if registered is None or registered.target is None or registered.target.cls is None:
                    continue
                cls = registered.target.cls
                lookup = self._lookup(cls)
                self.views.append(_View(f"{prefix}^{route}/$", cls, detail=False))
                self.views.append(_View(f"{prefix}^{route}/(?P<{lookup}>[^/.]+)/$", cls, detail=True))
                for detail, url_path, name, http in self._actions(cls):
                    base = f"{prefix}^{route}/(?P<{lookup}>[^/.]+)/" if detail else f"{prefix}^{route}/"
                    self.views.append(
                        _View(f"{base}{url_path}/$", cls, actions={"*": name, "*method": http}, detail=detail)
                    )

    def _lookup(self, cls: ClassInfo) -> str:
        for current in self.project.mro(cls):
            for attr in ("lookup_url_kwarg", "lookup_field"):
                value = current.attrs.get(attr)
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    return value.value
        return "pk"

    def _actions(self, cls: ClassInfo) -> list[tuple[bool, str, str, str]]:
        """``@action`` methods: (detail, url path, method name, HTTP method)."""
        found = []
        for current in self.project.mro(cls):
            for name, func in current.methods.items():
                for decorator in func.node.decorator_list:
                    if isinstance(decorator, ast.Call) and _name(decorator.func) == "action":
                        detail = False
                        url_path = name
                        http = "GET"
                        for keyword in decorator.keywords:
                            if keyword.arg == "methods" and isinstance(keyword.value, (ast.List, ast.Tuple)):
                                first = keyword.value.elts[0] if keyword.value.elts else None
                                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                                    http = first.value.upper()
                            if keyword.arg == "detail" and isinstance(keyword.value, ast.Constant):
                                detail = bool(keyword.value.value)
                            if keyword.arg == "url_path" and isinstance(keyword.value, ast.Constant):
                                url_path = str(keyword.value.value)
                        found.append((detail, url_path, name, http))
        return found

    # -- entries -----------------------------------------------------------------------------------------

    def _entries(self) -> list[Entry]:
        entries: list[Entry] = []
        for view in self.views:
            if isinstance(view.target, FunctionInfo):
                entries.append(Entry(view.target, _fbv_method(view.target), view.route, view.target.dotted))
            else:
                entries.extend(
                    class_entries(
                        self.project, self.graph, view.target, view.route, view.actions, view.detail
                    )
                )
        return entries


def class_entries(
    project: Project,
    graph: Graph,
    cls: ClassInfo,
    route: str | None,
    actions: dict[str, str] | None = None,
    detail: bool | None = None,
) -> list[Entry]:
    """The handler methods of a class-based view or viewset that run for ``route``."""
    entries: list[Entry] = []
    wanted: dict[str, str | None]
    if actions and "*" in actions:
        method = project.method(cls, actions["*"])
        return [Entry(method, actions.get("*method"), route, cls.dotted)] if method is not None else []
    if actions:
        wanted = {handler: http.upper() for http, handler in actions.items()}
        wanted.update({h: m for h, m in HANDLERS.items() if h not in _ACTION_HANDLERS and h not in wanted})
    else:
        wanted = dict(HANDLERS)
    if detail is not None:
        skip = set(_ROUTER_LIST) if detail else set(_ROUTER_DETAIL)
        skip |= {"perform_create"} if detail else {"perform_update", "perform_destroy"}
        wanted = {h: m for h, m in wanted.items() if h not in skip}
    seen: set[int] = set()
    for handler, http in wanted.items():
        method = project.method(cls, handler)
        if method is not None:
            if id(method) not in seen:
                seen.add(id(method))
                entries.append(Entry(method, http, route, cls.dotted))
            continue
        bases = project.outside_bases(cls)
        if handler in _IMPLICIT and any(b.rsplit(".", 1)[-1] in _IMPLICIT[handler] for b in bases):
            event = Event("implicit", f"{cls.dotted}.{handler}", cls)
            entries.append(Entry(event, http, route, cls.dotted))
    return entries


def _fbv_method(func: FunctionInfo) -> str | None:
    """``@require_POST`` and ``@api_view(["POST"])`` name the one method a function view serves."""
    for decorator in func.node.decorator_list:
        name = _name(decorator.func if isinstance(decorator, ast.Call) else decorator)
        if name in ("require_POST", "require_GET", "require_safe"):
            return "POST" if name == "require_POST" else "GET"
        if (
            name in ("api_view", "require_http_methods")
            and isinstance(decorator, ast.Call)
            and decorator.args
        ):
            methods = decorator.args[0]
            if isinstance(methods, (ast.List, ast.Tuple)) and len(methods.elts) == 1:
                only = methods.elts[0]
                if isinstance(only, ast.Constant) and isinstance(only.value, str):
                    return only.value.upper()
    return None


def _name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None
