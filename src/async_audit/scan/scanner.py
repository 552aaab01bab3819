"""``scan_project``: static findings for a Django project's source tree."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from async_audit.analyze.model import (
    Budgets,
    CallSite,
    Category,
    Disposition,
    Finding,
    FindingKind,
    Report,
    Severity,
    Sources,
)
from async_audit.errors import InputError
from async_audit.rules import CallFacts, Classification, RuleSet, load_rules
from async_audit.scan import dataflow
from async_audit.scan.catalog import SlowCall
from async_audit.scan.graph import Entry, Found, Graph, Node, Visit, path_from
from async_audit.scan.index import ClassInfo, FunctionInfo, ModuleIndex, index_module
from async_audit.scan.project import Project, discover, module_names
from async_audit.scan.source import FunctionNode, ParsedModule, count_lines, no_gc, parse_source
from async_audit.scan.urlconf import UrlConfReader, class_entries

DEFAULT_MAX_DEPTH = 8
_MAX_ENTRIES_SHOWN = 25  # a helper every view calls: the first few entry points make the point
_SETTINGS_ENV = re.compile(rb"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)['"]""")
_INLINE_BACKENDS = (
    ("CELERY_TASK_ALWAYS_EAGER", "celery"),
    ("CELERY_ALWAYS_EAGER", "celery"),
    ("task_always_eager", "celery"),
)
_TIERS = ("view", "unrouted", "other")


@dataclass
class _Settings:
    module: ModuleIndex | None = None
    root_urlconf: str | None = None
    atomic_requests: bool = False
    email_backend: str | None = None
    inline: dict[str, str] = field(default_factory=dict)  # task lib -> the setting that runs it inline


@dataclass
class _Reach:
    """How one slow call is reached: the entries of the best tier, each with its path."""

    tier: int
    paths: list[tuple[Entry, list[Visit]]] = field(default_factory=list)


def scan_project(
    root: Path,
    rules: RuleSet | None = None,
    config_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Report:
    """Scan the Django project under ``root`` and report its slow calls as static findings.

    ``rules`` defaults to :func:`async_audit.rules.load_rules` over ``root`` (and ``config_file``);
    ``progress(done, total)`` is called as files are parsed; ``max_depth`` bounds the call chains followed
    from each entry point. Site paths in the findings are relative to ``root``. Files that cannot be read or
    parsed are skipped and counted in ``Sources.skipped_lines`` and ``Sources.notes``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    if rules is None:
        rules = load_rules(root, config_file)
    started = time.perf_counter()
    # The scan builds a large web of trees and indexes, and frees it by reference counting once the links
    # that make cycles are cut (_release): the cyclic collector would only walk it again and again.
    with no_gc():
        project, stats = _load(root, progress)
        try:
            settings = _read_settings(project, root)
            graph = Graph(project, settings.module, max_depth=max_depth, inline=set(settings.inline))
            entries = _entries(project, graph, settings)
            reached = _reach(graph, entries)
            findings = _findings(project, graph, reached, rules, settings)
        finally:
            _release(project)
    elapsed = time.perf_counter() - started

    notes = [
        f"Static scan of {stats.files} Python files ({stats.lines} lines) in {elapsed:.2f} s: "
        f"{sum(1 for e in entries[0] if e.route is not None)} routed view handlers, "
        f"{len(reached)} slow calls reached from an entry point.",
        "Static findings have no timings: counts are call sites, durations are 0.",
    ]
    if settings.module is None:
        notes.append(
            "No Django settings module found: ROOT_URLCONF, ATOMIC_REQUESTS and task settings unknown."
        )
    notes.append(
        "Only code reached from an entry point (a view, a signal receiver, a model's or form's save) within "
        f"{max_depth} calls is reported: management commands, task bodies and unused helpers are not."
    )
    if stats.skipped:
        shown = ", ".join(stats.skipped[:5]) + (" ..." if len(stats.skipped) > 5 else "")
        notes.append(
            f"{len(stats.skipped)} files skipped (not readable as Python by this interpreter): {shown}"
        )
    sources = Sources(
        kind="static",
        paths=[str(root)],
        files=stats.files,
        records=0,
        calls=len(reached),
        skipped_lines=stats.skipped_lines,
        source_root=str(root),
        notes=notes,
    )
    generated = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return Report(generated_at=generated, sources=sources, budgets=Budgets(), findings=findings)


# -- loading ------------------------------------------------------------------------------------------------


@dataclass
class _Stats:
    files: int = 0
    lines: int = 0
    skipped: list[str] = field(default_factory=list)
    skipped_lines: int = 0


def _load(root: Path, progress: Callable[[int, int], None] | None) -> tuple[Project, _Stats]:
    project = Project(root)
    stats = _Stats()
    paths = list(discover(root))
    package_dirs: dict[str, bool] = {}
    root_text = str(root)
    with no_gc():
        for done, path in enumerate(paths, start=1):
            rel = os.path.relpath(str(path), root_text).replace(os.sep, "/")
            try:
                data = path.read_bytes()
            except OSError:
                stats.skipped.append(rel)
                continue
            lines = count_lines(data)
            stats.files += 1
            stats.lines += lines
            tree = parse_source(data, path)
            module = None
            if tree is not None:
                names, is_package = module_names(root, path, package_dirs)
                if names:
                    parsed = ParsedModule(path=path, tree=tree, lines=lines)
                    try:
                        eager = b".connect(" in data
                        module = index_module(parsed, names[0], rel, is_package, eager)
                    except RecursionError:
                        module = None
                    if module is not None:
                        project.add(module, names)
            if tree is None or module is None and tree is not None and _needs_module(path):
                stats.skipped.append(rel)
                stats.skipped_lines += lines
            if progress is not None:
                progress(done, len(paths))
    return project, stats


def _release(project: Project) -> None:
    """Cut the links that make cycles (module <-> function, class <-> method, function <-> nested one), so
    the whole index is freed as soon as the scan returns instead of waiting for a full collection."""
    for module in project.unique_modules():
        for func in module.functions.values():
            func._pending = None
            func._nested.clear()
            func.parent = None
            func.cls = None
        for cls in module.classes.values():
            cls.methods.clear()
        module.functions.clear()
        module.classes.clear()
    project.modules.clear()


def _needs_module(path: Path) -> bool:
    return path.stem.isidentifier()


def _read_settings(project: Project, root: Path) -> _Settings:
    settings = _Settings()
    name = None
    manage = root / "manage.py"
    if manage.is_file():
        try:
            match = _SETTINGS_ENV.search(manage.read_bytes())
        except OSError:
            match = None
        if match:
            name = match.group(1).decode()
    module = project.modules.get(name) if name else None
    if module is None:
        candidates = [
            m
            for m in project.unique_modules()
            if m.name.rsplit(".", 1)[-1] == "settings" or ".settings." in f".{m.name}."
        ]
        with_urlconf = [m for m in candidates if "ROOT_URLCONF" in m.globals]
        module = (with_urlconf or candidates)[0] if candidates else None
    if module is None:
        return settings
    settings.module = module
    settings.root_urlconf = (
        project.constant(module.globals["ROOT_URLCONF"], module, module)
        if ("ROOT_URLCONF" in module.globals)
        else None
    )
    if "EMAIL_BACKEND" in module.globals:
        settings.email_backend = project.constant(module.globals["EMAIL_BACKEND"], module, module)
    for node in ast.walk(module.parsed.tree):
        if isinstance(node, ast.Dict):
            _settings_dict(node, project, module, settings)
    for key, lib in _INLINE_BACKENDS:
        value = module.globals.get(key)
        if isinstance(value, ast.Constant) and value.value is True:
            settings.inline[lib] = f"{key} = True"
    return settings


def _settings_dict(node: ast.Dict, project: Project, module: ModuleIndex, settings: _Settings) -> None:
    for key, value in zip(node.keys, node.values, strict=False):
        if not isinstance(key, ast.Constant):
            continue
        if key.value == "ATOMIC_REQUESTS" and isinstance(value, ast.Constant) and value.value is True:
            settings.atomic_requests = True
        elif key.value == "BACKEND":
            # The value may be a conditional over Django versions: any immediate backend named in it counts.
            for inner in ast.walk(value):
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    if inner.value.endswith("ImmediateBackend"):
                        settings.inline["django.tasks"] = f"TASKS backend {inner.value}"
        elif key.value == "immediate" and isinstance(value, ast.Constant) and value.value is True:
            settings.inline["huey"] = "HUEY['immediate'] = True"
        elif key.value == "sync" and isinstance(value, ast.Constant) and value.value is True:
            settings.inline["django_q"] = "Q_CLUSTER['sync'] = True"
        elif key.value == "ASYNC" and isinstance(value, ast.Constant) and value.value is False:
            settings.inline["rq"] = "RQ_QUEUES[...]['ASYNC'] = False"


# -- entry points -------------------------------------------------------------------------------------------


def _entries(project: Project, graph: Graph, settings: _Settings) -> list[list[Entry]]:
    """Entries by tier: routed views; views no URLconf names; receivers, saves and deletes."""
    routed = UrlConfReader(project, graph).read(settings.root_urlconf)
    routed_views = {entry.view for entry in routed}
    unrouted: list[Entry] = []
    others: list[Entry] = []
    receivers = {id(func) for hooks in graph.receivers().values() for _, func in hooks}
    for module in project.unique_modules():
        for func in module.functions.values():
            if func.cls is None and func.parent is None and func.dotted not in routed_views and _is_fbv(func):
                unrouted.append(Entry(func, None, None, func.dotted, "unrouted"))
            if id(func) in receivers:
                others.append(Entry(func, None, None, func.dotted, "receiver"))
        for cls in module.classes.values():
            if cls.dotted in routed_views:
                continue
            kind = _class_kind(project, graph, cls)
            if kind == "view":
                for entry in class_entries(project, graph, cls, None):
                    entry.kind = "unrouted"
                    unrouted.append(entry)
            elif kind is not None:
                for name in ("save", "delete"):
                    method = cls.methods.get(name)
                    if method is not None:
                        others.append(Entry(method, None, None, method.dotted, kind))
    return [routed, unrouted, others]


def _is_fbv(func: FunctionInfo) -> bool:
    args = func.node.args.posonlyargs + func.node.args.args
    if not args or args[0].arg != "request":
        return False
    module = func.module.name.rsplit(".", 1)[-1]
    return (
        module.startswith(("views", "api"))
        or ".views." in f".{func.module.name}."
        or any(
            isinstance(d, ast.Call) and getattr(d.func, "id", getattr(d.func, "attr", "")) == "api_view"
            for d in func.node.decorator_list
        )
    )


def _class_kind(project: Project, graph: Graph, cls: ClassInfo) -> str | None:
    names = [c.name for c in project.mro(cls)] + [b.rsplit(".", 1)[-1] for b in project.outside_bases(cls)]
    if any(n.endswith(("View", "ViewSet", "APIView")) for n in names[1:] + [cls.name] if n != "Preview"):
        if not cls.name.endswith("Mixin"):
            return "view"
    if graph.model_of(cls) is cls:
        return "save"
    if any(n.endswith(("Form", "Serializer")) for n in names):
        return "form"
    return None


# -- reachability -------------------------------------------------------------------------------------------


def _reach(graph: Graph, tiers: list[list[Entry]]) -> dict[tuple[int, int], tuple[Found, _Reach]]:
    """Each slow call with the entries that reach it: those of the best tier (routed views first)."""
    by_node: dict[Node, list[tuple[int, Entry]]] = {}
    for tier, entries in enumerate(tiers):
        for entry in entries:
            by_node.setdefault(entry.node, []).append((tier, entry))
    reached: dict[tuple[int, int], tuple[Found, _Reach]] = {}
    for func in graph.build([entry.node for entries in tiers for entry in entries]):
        founds = graph.analyse(func)[0]
        if not founds:
            continue
        seen = graph.back(func)
        hits = [(tier, entry, node) for node in seen for tier, entry in by_node.get(node, ())]
        if not hits:
            continue
        best = min(tier for tier, _, _ in hits)
        paths = [(entry, path_from(seen, node)) for tier, entry, node in hits if tier == best]
        for found in founds:
            reached[(id(found.func), id(found.call))] = (found, _Reach(best, paths))
    return reached


# -- findings -----------------------------------------------------------------------------------------------


def _facts(slow: SlowCall, settings: _Settings) -> CallFacts:
    backend = settings.email_backend if slow.kind == "email" else (slow.lib if slow.kind == "task" else None)
    return CallFacts(
        kind=slow.kind,
        lib=slow.lib,
        via=slow.via,
        host=slow.host,
        method=slow.method,
        path=slow.path,
        backend=backend or (slow.target if slow.kind == "email" else None),
        task=slow.target if slow.kind == "task" else None,
        name=slow.target if slow.kind == "block" else None,
    )


def _site(func: FunctionInfo, line: int) -> CallSite:
    return CallSite(func.module.rel, line, func.qualname)


def _chain(
    entry: Entry, visits: list[Visit], found: Found
) -> tuple[list[str], list[CallSite], bool, bool, bool]:
    """Names along the path, the call sites innermost first, and whether any hop is in a loop,
    inside ``transaction.atomic()`` or handed to ``on_commit``."""
    start = entry.node
    names = [start.dotted if isinstance(start, FunctionInfo) else f"{start.key} (inherited)"]
    sites: list[CallSite] = [_site(found.func, found.call.node.lineno)]
    loop = atomic = on_commit = False
    for visit in visits:
        edge = visit.edge
        assert edge is not None
        label = (
            visit.node.dotted
            if isinstance(visit.node, FunctionInfo)
            else f"{visit.node.kind}:{visit.node.key}"
        )
        names.append(label + (f" [{edge.note}]" if edge.note else ""))
        if edge.call is not None and edge.func is not None:
            sites.insert(1, _site(edge.func, edge.call.node.lineno))
            loop = loop or edge.call.loop
            atomic = atomic or edge.call.atomic
            on_commit = on_commit or edge.call.on_commit or edge.note == "on_commit"
    return names, sites, loop, atomic, on_commit


def _guarded_method(func: FunctionInfo, call: ast.Call) -> str | None:
    """``if request.method == "POST": ...`` around a call of a function view: the method that runs it."""
    parents = func.module.parsed.parents
    child: ast.AST = call
    node = parents.get(call)
    while node is not None and node is not func.node:
        if isinstance(node, ast.If) and any(child is stmt for stmt in node.body):
            tests = (
                node.test.values
                if isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And)
                else [node.test]
            )
            for test in tests:
                method = _method_test(test, ast.Eq)
                if method is not None:
                    return method
        child = node
        node = parents.get(node)
    # ``if request.method != "POST": return ...`` (or ``== "GET"``) earlier in the view: the rest is a POST.
    for stmt in func.node.body:
        if stmt.lineno >= call.lineno:
            break
        if isinstance(stmt, ast.If) and any(isinstance(s, (ast.Return, ast.Raise)) for s in stmt.body):
            other = _method_test(stmt.test, ast.NotEq)
            if other is not None:
                return other
            if _method_test(stmt.test, ast.Eq) in ("GET", "HEAD"):
                return "POST"
    return None


def _method_test(test: ast.expr, op: type[ast.cmpop]) -> str | None:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], op)):
        return None
    left, right = test.left, test.comparators[0]
    if isinstance(right, ast.Attribute) and right.attr == "method":
        left, right = right, left
    if isinstance(left, ast.Attribute) and left.attr == "method" and isinstance(right, ast.Constant):
        return str(right.value).upper() if isinstance(right.value, str) else None
    return None


def _entry_method(entry: Entry, visits: list[Visit], found: Found) -> str | None:
    if entry.method is not None or not isinstance(entry.node, FunctionInfo):
        return entry.method
    first = visits[0].edge if visits else None
    call = None
    if first is not None and first.call is not None and first.func is entry.node:
        call = first.call.node
    elif not visits and found.func is entry.node:
        call = found.call.node
    method = _guarded_method(entry.node, call) if call is not None else None
    if method is None and call is not None:
        # Unguarded code of a function view runs on every method: a page load (GET), unless the view
        # reads a request body without ever looking at the method (webhooks, form posts to an API).
        method = "POST" if _reads_body(entry.node) else "GET"
    return method


def _reads_body(func: FunctionInfo) -> bool:
    reads = False
    for node in ast.walk(func.node):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "request"
        ):
            if node.attr == "method":
                return False
            reads = reads or node.attr in ("POST", "body", "FILES", "data")
    return reads


def _finding_id(kind: str, route: str | None, site: CallSite) -> str:
    text = f"static|{kind}|{route or ''}|{site.file}|{site.line}|{site.function}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _findings(  # noqa: C901 - one finding per call site and kind, assembled in one place
    project: Project,
    graph: Graph,
    reached: dict[tuple[int, int], tuple[Found, _Reach]],
    rules: RuleSet,
    settings: _Settings,
) -> list[Finding]:
    nodes: dict[int, FunctionInfo] = {}
    for module in project.unique_modules():
        for func in module.functions.values():
            nodes[id(func.node)] = func

    def callers(parsed: ParsedModule, func_node: FunctionNode) -> list[tuple[ParsedModule, ast.Call]] | None:
        info = nodes.get(id(func_node))
        if info is None or id(info) not in graph.callers:
            return None
        return [(caller.module.parsed, call.node) for caller, call in graph.callers[id(info)]]

    findings: list[Finding] = []
    for found, reach in sorted(
        reached.values(), key=lambda item: (item[0].func.module.rel, item[0].call.node.lineno)
    ):
        slow = found.slow
        classification = rules.classify(_facts(slow, settings))
        site = _site(found.func, found.call.node.lineno)
        entries: list[dict[str, Any]] = []
        stack: list[CallSite] = []
        loop, atomic, on_commit = found.call.loop, found.call.atomic, found.call.on_commit
        for entry, visits in sorted(
            reach.paths, key=lambda p: (p[0].route is None, p[0].route or "", p[0].view)
        ):
            names, sites, hop_loop, hop_atomic, hop_commit = _chain(entry, visits, found)
            # Per path: one function view runs different code for GET and for POST.
            method = entry.method or _entry_method(entry, visits, found)
            entries.append(
                {
                    "method": method,
                    "route": entry.route,
                    "view": entry.view,
                    "kind": entry.kind,
                    "chain": names,
                }
            )
            stack = stack or sites  # the first entry's, like the route and view the finding names
            loop, atomic, on_commit = loop or hop_loop, atomic or hop_atomic, on_commit or hop_commit
        atomic = atomic or (settings.atomic_requests and reach.tier < 2)
        first = entries[0]
        reaches = dataflow.call_reaches_response(found.func.module.parsed, found.call.node, callers)
        evidence = {
            "call": slow.label,
            "entry_points": entries[:_MAX_ENTRIES_SHOWN],
            "entry_points_total": len(entries),
            "reaches_response": reaches,
            "in_loop": loop,
            "on_commit": on_commit,
            "timeout": slow.timeout,
        }
        base: dict[str, Any] = dict(
            method=first["method"],
            route=first["route"],
            view=first["view"],
            site=site,
            count=1,
            requests=len(entries),
            calls_per_request=1.0,
            mean_ms=0.0,
            p95_ms=0.0,
            share_of_request=0.0,
            savings_ms_per_request=0.0,
            lib=slow.lib,
            via=slow.via,
            target=(settings.email_backend or slow.target) if slow.kind == "email" else slow.target,
            atomic=atomic,
            stack=stack[:8],
            source="static",
            evidence=evidence,
        )
        kind, disposition, severity, reason = _decide(
            slow, classification, reaches, loop, on_commit, reach.tier
        )
        if slow.kind == "task" and slow.lib in settings.inline:
            # The enqueue stays "deferred" (the task rule's word); the finding says the backend defeats it.
            kind, severity = FindingKind.FAKE_ASYNC, Severity.HIGH
            reason = (
                f"Task enqueue ({slow.target}) with {settings.inline[slow.lib]}: the work still runs inside "
                "the request; configure a real worker, or the request keeps paying for it."
            )
        findings.append(
            Finding(
                id=_finding_id(kind.value, first["route"], site),
                kind=kind,
                category=classification.category,
                disposition=disposition,
                severity=severity,
                reason=reason,
                rule=classification.rule,
                **base,
            )
        )
        if loop and slow.kind != "task" or loop and kind is FindingKind.FAKE_ASYNC:
            findings.append(
                Finding(
                    id=_finding_id("batch", first["route"], site),
                    kind=FindingKind.BATCH,
                    category=classification.category,
                    disposition=disposition,
                    severity=Severity.HIGH if disposition is not Disposition.KEEP_SYNC else Severity.MEDIUM,
                    reason=(
                        f"{slow.label} is called in a loop: one request makes it once per item. Batch it "
                        "(one task for all items, or the service's bulk API)."
                    ),
                    rule=classification.rule,
                    **base,
                )
            )
        if slow.timeout == "missing":
            findings.append(
                Finding(
                    id=_finding_id("no_timeout", first["route"], site),
                    kind=FindingKind.NO_TIMEOUT,
                    category=classification.category,
                    disposition=disposition,
                    severity=Severity.HIGH if loop else Severity.MEDIUM,
                    reason=(
                        f"{slow.label} has no timeout: a slow or silent server holds the web worker until "
                        "the platform kills the request. Pass timeout= (seconds)."
                    ),
                    rule="static:no-timeout",
                    **base,
                )
            )
    _prioritise(findings)
    return findings


def _decide(
    slow: SlowCall,
    classification: Classification,
    reaches: bool | None,
    loop: bool,
    on_commit: bool,
    tier: int,
) -> tuple[FindingKind, Disposition, Severity, str]:
    disposition = classification.disposition
    reason = classification.reason
    if classification.rule == "builtin:block" and slow.kind == "block":
        reason = f"{slow.label} blocks the web worker; defer it when the response does not show its result."
    if disposition is Disposition.DEFERRED:
        return FindingKind.DEFER, disposition, Severity.INFO, reason
    if disposition is Disposition.KEEP_SYNC:
        if reaches is False and classification.category in (Category.API_READ, Category.SEARCH_QUERY):
            # Reads are kept for the page that shows them; this one's result is never shown.
            reason = f"{reason} But its result does not reach the response: it can move to a background task."
            return FindingKind.DEFER, Disposition.DEFER, Severity.MEDIUM, reason
        return FindingKind.KEEP_SYNC, disposition, Severity.INFO, reason
    if reaches is True:
        reason = f"{reason} But its result reaches the response here, so the request must wait for it."
        return FindingKind.KEEP_SYNC, Disposition.KEEP_SYNC, Severity.LOW, reason
    if disposition is Disposition.REVIEW:
        if reaches is False:
            reason = f"{reason} Its result does not reach the response: it can move to a background task."
            disposition = Disposition.DEFER
        else:
            return FindingKind.DEFER, disposition, Severity.LOW, reason
    if reaches is None:
        reason = f"{reason} (Whether its result reaches the response could not be told from the source.)"
    if on_commit:
        reason = f"{reason} It runs in transaction.on_commit: after the commit, but still inside the request."
    severity = Severity.HIGH if loop else (Severity.MEDIUM if tier < 2 else Severity.LOW)
    return FindingKind.DEFER, disposition, severity, reason


_KIND_ORDER = [
    FindingKind.FAKE_ASYNC,
    FindingKind.BATCH,
    FindingKind.DEFER,
    FindingKind.NO_TIMEOUT,
    FindingKind.TIMEOUT_RISK,
    FindingKind.KEEP_SYNC,
]


def _prioritise(findings: list[Finding]) -> None:
    findings.sort(
        key=lambda f: (
            -f.severity.rank,
            _KIND_ORDER.index(f.kind),
            f.disposition is Disposition.DEFERRED,
            f.site.file or "",
            f.site.line or 0,
        )
    )
    for number, finding in enumerate(findings, start=1):
        finding.priority = number


__all__ = ["DEFAULT_MAX_DEPTH", "scan_project"]
