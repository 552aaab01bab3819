"""From findings to stubs: the task, the command that runs it by hand, and the call-site change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from libcst import ParserSyntaxError

from async_audit.analyze.model import CallSite, Category, Finding, FindingKind, Report, Stub
from async_audit.errors import InputError
from async_audit.extract.base import WIDTH, StubGenerator, generator, make_environment
from async_audit.extract.callsite import (
    CallSitePlan,
    ProjectInfo,
    analyze,
    module_name,
    rewrite_module,
    unified_diff,
)
from async_audit.extract.spec import ImportSpec, Param, TaskSpec, identifier, unique

CANDIDATE_KINDS = frozenset({FindingKind.DEFER, FindingKind.BATCH})
PATCH_NAME = "call-sites.patch"
SNIPPETS_NAME = "call-sites-by-hand.py.txt"
DEFAULT_BACKEND = "django_tasks"

_HTTP_CATEGORIES = frozenset(
    {Category.API_WRITE, Category.NOTIFICATION, Category.SEARCH_INDEX, Category.STORAGE, Category.API_READ}
)
_SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "node_modules", "__pycache__", "site-packages", ".tox", "build"}
)


@dataclass
class Prepared:
    """One finding's task, before any backend renders it."""

    finding: Finding
    spec: TaskSpec
    plan: CallSitePlan | None


# -- the project ---------------------------------------------------------------------------------------
def project_info(source_root: Path | None, findings: Sequence[Finding] = ()) -> ProjectInfo:
    """The audited project's root and its own top-level packages (for import sections)."""
    first_party: set[str] = set()
    for f in findings:
        if f.site.file:
            first_party.add(f.site.file.replace("\\", "/").split("/")[0].removesuffix(".py"))
    if source_root is None:
        return ProjectInfo(None, frozenset(first_party))
    root = Path(source_root)
    if not root.is_dir():
        raise InputError(f"source root not found: {source_root}")
    for child in root.iterdir():
        if child.name in _SKIP_DIRS or child.name.startswith("."):
            continue
        if child.is_dir() and any(child.glob("*.py")):
            first_party.add(child.name)
        elif child.suffix == ".py":
            first_party.add(child.stem)
    return ProjectInfo(root.resolve(), frozenset(first_party))


def _read(project: ProjectInfo, rel: str | None, cache: dict[str, str | None]) -> str | None:
    if project.root is None or not rel:
        return None
    if rel not in cache:
        path = (project.root / rel).resolve()
        if not path.is_relative_to(project.root) or not path.is_file():
            cache[rel] = None
        else:
            try:
                cache[rel] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                cache[rel] = None
    return cache[rel]


def _choose_plan(finding: Finding, project: ProjectInfo, cache: dict[str, str | None]) -> CallSitePlan | None:
    """The frame to move: the view's own statement when it can move, else the innermost project frame."""
    frames = list(finding.stack) or [finding.site]
    view_fn = finding.view.rsplit(".", 1)[-1] if finding.view else None
    ordered: list[CallSite] = [f for f in reversed(frames) if view_fn and f.function == view_fn]
    ordered += [f for f in frames if f not in ordered]
    plans: list[CallSitePlan] = []
    for frame in ordered:
        if not frame.file or not frame.line:
            continue
        code = _read(project, frame.file, cache)
        if code is None:
            continue
        plan = analyze(code, frame.file, frame.line, frame.function, project)
        if plan is None:
            continue
        if plan.rewritable:
            return plan
        plans.append(plan)
    usable = [p for p in plans if not p.orm_write] or plans
    return usable[0] if usable else None


def _compiles(spec: TaskSpec) -> bool:
    from async_audit.extract.base import indent_code

    try:
        body = "\n".join(indent_code(part, "    ") for part in [*spec.prelude, spec.body] if part.strip())
        compile(f"def _task():\n{body}\n", spec.path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, ParserSyntaxError):
        return False
    return True


def _task_location(rel_file: str | None, view: str | None, project: ProjectInfo) -> tuple[str, str]:
    """(dotted module, relative path) of the tasks module next to the code that enqueues."""
    if rel_file:
        parts = rel_file.replace("\\", "/").split("/")[:-1]
    elif view and "." in view:
        parts = view.split(".")[:-2] or view.split(".")[:1]
    else:
        parts = []
    if parts and parts[-1] in {"views", "api", "viewsets"} and len(parts) > 1:
        parts = parts[:-1]
    for name in ("tasks", "deferred_tasks", "async_audit_tasks"):
        rel = "/".join([*parts, f"{name}.py"])
        if project.root is None or not (project.root / rel).exists():
            return module_name(rel), rel
    rel = "/".join([*parts, "async_audit_tasks.py"])
    return module_name(rel), rel


# -- task specs ----------------------------------------------------------------------------------------
def _summary(finding: Finding, callee: str | None) -> str:
    where = finding.view or finding.site.function or "the request"
    what = {
        Category.EMAIL: "Send the email",
        Category.NOTIFICATION: "Send the notification",
        Category.API_WRITE: f"Call {finding.via or finding.target or 'the API'}",
        Category.SEARCH_INDEX: "Update the search index",
        Category.STORAGE: "Upload the file",
        Category.COMPUTE: "Do the work",
    }.get(finding.category, "Do the work")
    if callee:
        what += f" ({callee})"
    return f"{what} that {where} did inside the request."


def _idempotency(category: Category) -> str:
    if category in {Category.EMAIL, Category.NOTIFICATION}:
        return (
            "Idempotency: a retry after a time-out can deliver the message twice. Where that matters, record "
            "the delivery on the row (a sent-at column) and return early when it is already set."
        )
    if category == Category.SEARCH_INDEX:
        return "Idempotency: indexing a document by its id is an upsert, so running this twice is harmless."
    if category in _HTTP_CATEGORIES:
        return (
            "Idempotency: a retry repeats the request. Send the API's idempotency key, or upsert by your own "
            "id, so that a second run cannot create a duplicate."
        )
    return "Idempotency: workers retry after crashes and time-outs, so this must be safe to run twice."


def _origin(plan: CallSitePlan | None, finding: Finding) -> str:
    if plan is not None:
        return f"{plan.file}:{plan.line} in {plan.function}"
    site = finding.site
    where = f"{site.file}:{site.line}" if site.file else "an unknown file"
    return f"{where} in {site.function or 'an unknown function'}" + (
        f" ({finding.route})" if finding.route else ""
    )


def spec_for(finding: Finding, plan: CallSitePlan | None, project: ProjectInfo) -> TaskSpec:
    """The task for ``finding``: from the real call site when ``plan`` is given, else from the facts."""
    module, path = _task_location(plan.file if plan else finding.site.file, finding.view, project)
    spec = TaskSpec(
        name="",
        module=module,
        path=path,
        summary=_summary(finding, plan.callee if plan else None),
        origin=_origin(plan, finding),
        category=finding.category.value,
        idempotency=_idempotency(finding.category),
        first_party=project.first_party | {module.split(".")[0]},
    )
    if plan is not None:
        spec.name = identifier(f"{plan.function}_{plan.callee}", "task")
        spec.params = plan.params
        spec.body = plan.body
        spec.prelude = plan.prelude
        spec.imports = list(plan.imports)
        spec.local_imports = list(plan.local_imports)
        spec.notes.extend(f"Before this can move: {problem}." for problem in plan.problems)
        if plan.unwrapped_try:
            spec.notes.append(
                "The try/except that only logged its failure at the call site is gone: the backend's retries "
                "and the worker's log take its place."
            )
        if plan.loop:
            spec.notes.append(
                "The whole loop runs in one task: one enqueue per request, not one per item. A retry starts "
                "again from the first item, so record each item's progress (or enqueue one task per item) "
                "when repeating some of them would hurt."
            )
        for p in plan.params:
            if p.model is not None and not p.model.verified:
                spec.notes.append(
                    f"`{p.local}` is looked up as {p.model.module}.{p.model.expr}, a guess from its name: "
                    "check the model."
                )
        return spec
    _facts_task(spec, finding)
    return spec


def _facts_task(spec: TaskSpec, finding: Finding) -> None:
    """A task made from the finding alone (no source): parameterised on the values the work needs."""
    base = (finding.view or "").rsplit(".", 1)[-1] or finding.site.function or "request"
    spec.name = identifier(f"{base}_{finding.category.value}", "task")
    if finding.category == Category.EMAIL:
        spec.params = [
            Param("subject", "str", "subject", help="the subject line"),
            Param("message", "str", "message", help="the plain-text body"),
            Param("recipient_list", "list[str]", "recipient_list", help="the addresses to send to"),
        ]
        spec.imports = [ImportSpec("django.core.mail", "send_mail")]
        spec.body = "send_mail(subject, message, None, recipient_list)"
    elif finding.category in _HTTP_CATEGORIES:
        lib = "httpx" if (finding.lib or "").startswith("httpx") or finding.via == "httpx" else "requests"
        spec.params = [
            Param("url", "str", "url", help=f"the endpoint on {finding.target or 'the API'}"),
            Param("payload", "dict[str, Any]", "payload", help="the JSON body"),
            Param("method", "str", '"POST"', help="the HTTP method"),
        ]
        spec.imports = [ImportSpec(lib)]
        spec.body = (
            f"response = {lib}.request(method, url, json=payload, timeout=10)\n"
            "# An error status raises, so the backend retries it like a network error.\n"
            "response.raise_for_status()"
        )
    else:
        function = finding.site.function or "work"
        module = module_name(finding.site.file) if finding.site.file else None
        spec.params = [Param("arguments", "dict[str, Any]", "arguments", help="the keyword arguments")]
        if module and function.isidentifier():
            spec.local_imports = [ImportSpec(module, function)]
            spec.body = f"{function}(**arguments)"
        else:
            spec.params.insert(
                0,
                Param(
                    "function", "str", "function", help="dotted path of the function to run (app.module.name)"
                ),
            )
            spec.imports = [ImportSpec("django.utils.module_loading", "import_string")]
            spec.body = "import_string(function)(**arguments)"
    spec.notes.append(
        f"Made without the source ({spec.origin}): the parameters name the values the work needs; "
        "pass them from the call site as shown in the snippet."
    )


# -- the public entry points ---------------------------------------------------------------------------
def prepare(findings: list[Finding], source_root: Path | None) -> list[Prepared]:
    """Tasks for every defer/batch finding, with names unique within each tasks module."""
    project = project_info(source_root, findings)
    cache: dict[str, str | None] = {}
    out: list[Prepared] = []
    by_site: dict[tuple[str, int, int], Prepared] = {}
    names: dict[str, set[str]] = {}
    for finding in findings:
        if finding.kind not in CANDIDATE_KINDS:
            continue
        plan = _choose_plan(finding, project, cache) if project.root is not None else None
        if plan is not None and (plan.file, plan.line, plan.column) in by_site:
            shared = by_site[(plan.file, plan.line, plan.column)]
            out.append(Prepared(finding, shared.spec, shared.plan))
            continue
        spec = spec_for(finding, plan, project)
        if plan is not None and not _compiles(spec):
            # The moved code cannot stand in a plain function (an await, a break out of its loop): the task
            # is made from the facts, and the snippet keeps the reasons read from the call site.
            spec = spec_for(finding, None, project)
        spec.name = unique(spec.name, names.setdefault(spec.module, set()))
        prepared = Prepared(finding, spec, plan)
        if plan is not None:
            by_site[(plan.file, plan.line, plan.column)] = prepared
        out.append(prepared)
    return out


def generate_stub(
    finding: Finding, backend: str, source_root: Path | None = None, templates: Path | None = None
) -> Stub:
    """Task module, management command and call-site change (patch or snippet) for one finding."""
    gen = generator(backend, source_root)
    env = make_environment(templates)
    prepared = prepare([finding], source_root)
    if not prepared:
        raise InputError(f"finding {finding.id} is a {finding.kind.value} finding: only defer and batch move")
    return _stub(prepared[0], gen, env, project_info(source_root, [finding]))


def _stub(item: Prepared, gen: StubGenerator, env: jinja2.Environment, project: ProjectInfo) -> Stub:
    spec, plan = item.spec, item.plan
    stub = Stub(
        backend=gen.name,
        task_name=spec.name,
        code=gen.render_module(env, [spec]),
        command=gen.render_command(env, spec),
    )
    if plan is not None and plan.rewritable and project.root is not None:
        old = (project.root / plan.file).read_text(encoding="utf-8")
        new = rewrite_module(old, [_change(gen, spec, plan)], project.first_party | spec.first_party)
        stub.patch = unified_diff(old, new, plan.file)
        stub.rewritten = True
    else:
        stub.snippet = _snippet(gen, env, spec, plan)
    return stub


def _change(
    gen: StubGenerator, spec: TaskSpec, plan: CallSitePlan
) -> tuple[CallSitePlan, str, list[ImportSpec]]:
    # libcst indents continuation lines by the enclosing block itself: lay out from column 0, in less width.
    code, imports = gen.call_site(spec, WIDTH - plan.column)
    return plan, code, imports


def attach_stubs(
    report: Report, backend: str | None, source_root: Path | None, templates: Path | None = None
) -> Report:
    """Fill ``finding.stub`` for every defer and batch finding (the backend detected when not given)."""
    if backend is None:
        from async_audit.extract.detect import detect_backend

        backend = (detect_backend(source_root) if source_root is not None else None) or DEFAULT_BACKEND
    gen = generator(backend, source_root)
    env = make_environment(templates)
    project = project_info(source_root, report.findings)
    for item in prepare(report.findings, source_root):
        item.finding.stub = _stub(item, gen, env, project)
    if source_root is not None:
        from async_audit.extract.detect import inline_backend_warning

        warning = inline_backend_warning(source_root, backend)
        if warning and warning not in report.sources.notes:
            report.sources.notes.append(warning)
    return report


def write_stubs(
    report: Report, backend: str, out_dir: Path, source_root: Path | None, templates: Path | None = None
) -> list[Path]:
    """Write the task modules, one management command per task and one combined patch under ``out_dir``.

    Paths mirror the project's (``accounts/tasks.py``); the patch (``call-sites.patch``, for ``git apply``)
    holds every call site that could be rewritten, ``call-sites-by-hand.py.txt`` the snippets for the rest.
    """
    gen = generator(backend, source_root)
    env = make_environment(templates)
    project = project_info(source_root, report.findings)
    items = prepare(report.findings, source_root)
    writer = _Writer(Path(out_dir))
    specs = list({id(item.spec): item.spec for item in items}.values())
    modules: dict[str, list[TaskSpec]] = {}
    for spec in specs:
        modules.setdefault(spec.path, []).append(spec)
    for path, module_specs in modules.items():
        writer.write(path, gen.render_module(env, module_specs))
    for spec in specs:
        writer.write(spec.command_path, gen.render_command(env, spec))
        package = spec.command_path.rsplit("/", 2)[0]
        for init in (f"{package}/__init__.py", f"{package}/commands/__init__.py"):
            if not (project.root is not None and (project.root / init).exists()):
                writer.write_once(init, "")
    patch, snippets = _call_site_changes(gen, env, project, items)
    writer.write(PATCH_NAME, patch)
    if snippets:
        writer.write(SNIPPETS_NAME, "\n\n".join(snippets))
    return writer.written


class _Writer:
    """Writes under one directory and nowhere else."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.root = out_dir.resolve()
        self.written: list[Path] = []

    def write(self, rel: str, text: str) -> None:
        target = (self.root / rel).resolve()
        if Path(rel).is_absolute() or not target.is_relative_to(self.root):
            raise InputError(f"refusing to write outside {self.out_dir}: {rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        self.written.append(target)

    def write_once(self, rel: str, text: str) -> None:
        if (self.root / rel).resolve() not in self.written:
            self.write(rel, text)


def _call_site_changes(
    gen: StubGenerator, env: jinja2.Environment, project: ProjectInfo, items: list[Prepared]
) -> tuple[str, list[str]]:
    """One diff over every rewritable call site (each file rewritten once), and snippets for the rest."""
    snippets: list[str] = []
    by_file: dict[str, list[tuple[CallSitePlan, str, list[ImportSpec]]]] = {}
    specs_by_file: dict[str, list[TaskSpec]] = {}
    seen: set[int] = set()
    for item in items:
        if id(item.spec) in seen:
            continue
        seen.add(id(item.spec))
        plan = item.plan
        if plan is not None and plan.rewritable and project.root is not None:
            by_file.setdefault(plan.file, []).append(_change(gen, item.spec, plan))
            specs_by_file.setdefault(plan.file, []).append(item.spec)
        else:
            snippets.append(_snippet(gen, env, item.spec, plan))
    parts = []
    for rel, changes in sorted(by_file.items()):
        assert project.root is not None
        old = (project.root / rel).read_text(encoding="utf-8")
        first_party = project.first_party.union(*(plan_spec.first_party for plan_spec in specs_by_file[rel]))
        parts.append(unified_diff(old, rewrite_module(old, changes, first_party), rel))
    return "".join(parts), snippets


def _snippet(gen: StubGenerator, env: jinja2.Environment, spec: TaskSpec, plan: CallSitePlan | None) -> str:
    reasons = list(plan.problems) if plan is not None else ["the source was not given (--source-root)"]
    original = plan.code if plan is not None else f"the slow call at {spec.origin}"
    return gen.render_snippet(env, spec, original, reasons)
