"""The Jinja2 environment of the report templates: the user's directory first, then the packaged ones.

Packaged templates live in the repository at ``reports/templates/`` and inside the wheel at
``async_audit/templates``. A ``--templates DIR`` holding, say, ``report/_brand.html`` replaces that one
partial and keeps every other template.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from async_audit.errors import InputError
from async_audit.report import formatting


def packaged_templates() -> Path:
    """The directory of the templates that ship with async-audit."""
    try:
        installed = resources.files("async_audit") / "templates"
        if isinstance(installed, Path) and installed.is_dir():
            return installed
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - a broken install
        pass
    # A source checkout or an editable install: src/async_audit/report/templating.py -> reports/templates.
    checkout = Path(__file__).resolve().parents[3] / "reports" / "templates"
    if checkout.is_dir():
        return checkout
    raise InputError("async-audit's report templates are missing from this installation")  # pragma: no cover


def breakable(text: object) -> Markup:
    """Escaped text that may wrap after each ``/`` (routes and paths), not in the middle of a word."""
    return Markup(str(escape(text)).replace("/", "/<wbr>"))


def make_environment(templates: Path | None = None) -> jinja2.Environment:
    """An environment over ``templates`` (optional, first) and the packaged templates.

    HTML, SVG and XML templates are autoescaped; an undefined variable is an error, never an empty string.
    """
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        templates = Path(templates)
        if not templates.is_dir():
            raise InputError(f"templates directory not found: {templates}")
        loaders.append(jinja2.FileSystemLoader(templates))
    loaders.append(jinja2.FileSystemLoader(packaged_templates()))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "svg", "xml"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        ms=formatting.fmt_ms,
        seconds=formatting.fmt_seconds,
        pct=formatting.fmt_pct,
        int=formatting.fmt_int,
        num=formatting.fmt_num,
        plural=formatting.plural,
        breakable=breakable,
        ts=formatting.fmt_ts,
        iso=formatting.fmt_iso,
        md=formatting.md_escape,
        fence=formatting.md_fence,
        one_line=formatting.one_line,
        kind_label=formatting.kind_label,
        category_label=formatting.category_label,
        disposition_label=formatting.disposition_label,
    )
    env.globals.update(
        endpoint_label=formatting.endpoint_label,
        site_label=formatting.site_label,
        evidence_items=formatting.evidence_items,
    )
    return env


def render_template(env: jinja2.Environment, name: str, context: dict[str, object]) -> str:
    """Render one template; a template error becomes an :class:`InputError` naming the template."""
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise InputError(f"report template not found: {exc.name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(
            f"report template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}"
        ) from None
    except jinja2.UndefinedError as exc:
        raise InputError(f"report template {name}: {exc.message}") from None
