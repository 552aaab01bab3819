"""The base class of the stub generators: one small subclass per task backend.

A generator knows three things about its backend: how a task is declared (imports and a decorator template,
``stubs/<name>/decorator.py.j2``), how it is enqueued after the transaction commits, and how it is run in
this process by hand. Everything else (the task module, the management command, the call-site snippet) is
rendered from shared templates under ``stubs/``, which a ``--templates`` directory can override one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import jinja2
import libcst as cst

from async_audit.errors import InputError, UsageError
from async_audit.extract.spec import ImportSpec, Param, TaskSpec, import_block

WIDTH = 110  # the audited project's line length is unknown: ruff's and black's common wide setting

PARTIAL = ImportSpec("functools", "partial")
TRANSACTION = ImportSpec("django.db", "transaction")


@dataclass
class Call:
    """A call expression that lays itself out within a line width (one line, or one argument a line)."""

    func: str
    args: list[str | Call] = field(default_factory=list)

    def flat(self) -> str:
        return f"{self.func}({', '.join(a if isinstance(a, str) else a.flat() for a in self.args)})"

    def format(self, indent: str = "", width: int = WIDTH) -> str:
        """The code, its first line starting at column ``len(indent)``."""
        flat = self.flat()
        if len(indent) + len(flat) <= width or not self.args:
            return flat
        inner = indent + "    "
        lines = [f"{self.func}("]
        for arg in self.args:
            text = arg if isinstance(arg, str) else arg.format(inner, width - 1)  # its trailing comma
            lines.append(f"{inner}{text},")
        lines.append(f"{indent})")
        return "\n".join(lines)


class StubGenerator:
    """Renders a :class:`TaskSpec` as code for one task backend.

    Subclasses set ``name`` (the ``--backend`` value), ``label``, ``retries`` (a sentence on what the backend
    does when a task fails) and implement :meth:`enqueue_callable`; backends whose enqueue is not
    ``partial(callable, **kwargs)``-shaped override :meth:`on_commit` and :meth:`enqueue`.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    retries: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[StubGenerator]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            StubGenerator.registry[cls.name] = cls

    @classmethod
    def for_project(cls, source_root: Path | None) -> StubGenerator:
        """The generator for one project (a backend whose API differs between versions reads them here)."""
        return cls()

    # -- declaring the task ---------------------------------------------------------------------------
    def task_imports(self, spec: TaskSpec) -> list[ImportSpec]:
        """Module-level imports the decorator needs."""
        return []

    def extra_import_code(self, spec: TaskSpec) -> str:
        """Import code that is not a plain import line (a ``try``/``except ImportError`` fallback)."""
        return ""

    # -- enqueueing -----------------------------------------------------------------------------------
    def enqueue_callable(self, task: str) -> str:
        """The bound method that enqueues ``task`` (``task.delay``)."""
        raise NotImplementedError

    def enqueue(self, task: str, kwargs: list[str]) -> tuple[Call, list[ImportSpec]]:
        """The explicit enqueue, as the management command's ``--enqueue`` makes it."""
        return Call(self.enqueue_callable(task), list(kwargs)), []

    def on_commit(self, task: str, kwargs: list[str]) -> tuple[Call, list[ImportSpec]]:
        """The enqueue at the call site: only once the transaction commits, its return value unused."""
        inner = Call("partial", [self.enqueue_callable(task), *kwargs])
        return Call("transaction.on_commit", [inner]), [PARTIAL, TRANSACTION]

    def run_now(self, task: str, kwargs: list[str]) -> Call:
        """Running the task's body in this process (the management command's default)."""
        return Call(task, list(kwargs))

    # -- rendering ------------------------------------------------------------------------------------
    def render_module(self, env: jinja2.Environment, specs: Sequence[TaskSpec]) -> str:
        """The task module holding ``specs`` (all in the same module)."""
        imports = [ImportSpec("logging")]
        needs_any = False
        for spec in specs:
            imports.extend(spec.imports)
            imports.extend(self.task_imports(spec))
            for p in spec.params:
                if p.model is not None:
                    model_import = p.model.import_spec()
                    if model_import is not None:
                        imports.append(model_import)
                needs_any = needs_any or "Any" in p.annotation
        if needs_any:
            imports.append(ImportSpec("typing", "Any"))
        first_party = frozenset().union(*(s.first_party for s in specs))
        tasks = [self._task_context(env, spec) for spec in specs]
        code = _render(
            env,
            "stubs/task_module.py.j2",
            {
                "backend": self,
                "module": specs[0].module,
                "imports": import_block(imports, first_party),
                "extra_imports": "\n\n".join(
                    dict.fromkeys(c for s in specs if (c := self.extra_import_code(s)))
                ),
                "tasks": tasks,
            },
        )
        return code

    def _task_context(self, env: jinja2.Environment, spec: TaskSpec) -> dict[str, object]:
        local_imports = import_block(spec.local_imports, spec.first_party, indent="    ")
        body_parts = [*spec.prelude, spec.body]
        body = "\n".join(indent_code(part, "    ") for part in body_parts if part.strip())
        decorator = _render(
            env, f"stubs/{self.name}/decorator.py.j2", {"task": spec, "backend": self}
        ).strip()
        return {
            "spec": spec,
            "decorator": decorator,
            "signature": _signature(spec.params),
            "local_imports": local_imports,
            "lookups": _lookups(spec),
            "body": body,
            "user_model": any(p.model is not None and p.model.module is None for p in spec.params),
        }

    def render_command(self, env: jinja2.Environment, spec: TaskSpec) -> str:
        """A management command that runs the task for given ids, here (default) or through the queue."""
        ids = spec.pk_params[0] if spec.pk_params else None
        kwargs = [f"{p.name}={p.name}" if p is ids else f'{p.name}=options["{p.name}"]' for p in spec.params]
        enqueue, enqueue_imports = self.enqueue(spec.name, kwargs)
        indent = " " * (16 if ids else 12)
        imports = [
            ImportSpec("typing", "Any"),
            ImportSpec("django.core.management.base", "BaseCommand"),
            ImportSpec("django.core.management.base", "CommandParser"),
            ImportSpec(spec.module, spec.name),
            *enqueue_imports,
        ]
        if any(_arg_type(p) == "json.loads" for p in spec.params):
            imports.append(ImportSpec("json"))
        return _render(
            env,
            "stubs/command.py.j2",
            {
                "spec": spec,
                "backend": self,
                "imports": import_block(imports, spec.first_party),
                "ids": ids,
                "options": [p for p in spec.params if p is not ids],
                "run_now": self.run_now(spec.name, kwargs).format(indent),
                "enqueue": enqueue.format(indent),
                "arg_type": _arg_type,
            },
        )

    def call_site(self, spec: TaskSpec, width: int = WIDTH) -> tuple[str, list[ImportSpec]]:
        """The statement that replaces the slow one (laid out to fit ``width``), and the imports it needs."""
        kwargs = [f"{p.name}={p.value}" for p in spec.params]
        call, imports = self.on_commit(spec.name, kwargs)
        return call.format("", width), [*imports, ImportSpec(spec.module, spec.name)]

    def render_snippet(
        self, env: jinja2.Environment, spec: TaskSpec, original: str, reasons: list[str]
    ) -> str:
        """The change to make by hand where the call site could not be rewritten safely."""
        code, imports = self.call_site(spec)
        return _render(
            env,
            "stubs/snippet.py.j2",
            {
                "spec": spec,
                "backend": self,
                "imports": import_block(imports, spec.first_party),
                "enqueue": code,
                "original": original,
                "reasons": reasons,
            },
        )


def generator(backend: str, source_root: Path | None = None) -> StubGenerator:
    """The generator registered under ``backend``, fitted to the project at ``source_root`` when given."""
    from async_audit.extract import backends  # noqa: F401  (registers every generator)

    try:
        cls = StubGenerator.registry[backend]
    except KeyError:
        known = ", ".join(sorted(StubGenerator.registry))
        raise UsageError(f"unknown task backend {backend!r}; choose one of: {known}") from None
    return cls.for_project(source_root)


def indent_code(code: str, prefix: str) -> str:
    """Indent Python code without touching the inside of multi-line strings."""
    module = cst.parse_module(code.strip("\n") + "\n")
    fn = cst.FunctionDef(
        name=cst.Name("_"), params=cst.Parameters(), body=cst.IndentedBlock(body=module.body, indent=prefix)
    )
    text = cst.Module(body=[fn]).code.split("\n", 1)[1].rstrip("\n")
    # parse_module keeps the comments above the first statement in the module header, not in the body.
    header = "".join(f"{prefix}{line.comment.value}\n" for line in module.header if line.comment is not None)
    return header + text


def _signature(params: list[Param]) -> str:
    parts = [f"{p.name}: {p.annotation}" + (f" = {p.default}" if p.default else "") for p in params]
    flat = ", ".join(parts)
    if len(flat) <= 70:
        return flat
    return "\n" + "".join(f"    {p},\n" for p in parts)


def _lookups(spec: TaskSpec) -> list[dict[str, str]]:
    out = []
    for p in spec.pk_params:
        assert p.model is not None
        cls = p.model.expr
        label = "user" if p.model.module is None else cls.split(".")[-1]
        out.append({"local": p.local or p.name, "cls": cls, "param": p.name, "label": label})
    return out


def _arg_type(param: Param) -> str:
    if param.annotation in {"int", "float"}:
        return param.annotation
    if param.annotation == "str":
        return "str"
    return "json.loads"


def _render(env: jinja2.Environment, name: str, context: dict[str, object]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise InputError(f"stub template not found: {exc.name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(
            f"stub template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}"
        ) from None
    except jinja2.UndefinedError as exc:
        raise InputError(f"stub template {name}: {exc.message}") from None


def make_environment(templates: Path | None = None) -> jinja2.Environment:
    """The stub templates: ``templates`` first (when given), then the packaged ones. Never autoescaped."""
    from async_audit.report.templating import packaged_templates

    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        if not Path(templates).is_dir():
            raise InputError(f"templates directory not found: {templates}")
        loaders.append(jinja2.FileSystemLoader(templates))
    loaders.append(jinja2.FileSystemLoader(packaged_templates()))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=False,  # the output is Python source, not HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["doc"] = doc_text
    return env


def doc_text(value: object) -> str:
    """Text safe inside a docstring, a comment or a double-quoted string: one line, no quotes to break out."""
    text = " ".join(str(value).split())
    return text.replace("\\", "/").replace('"', "'")
