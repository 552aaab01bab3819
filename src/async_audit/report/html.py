"""The HTML report: one self-contained file a consultant hands to a client."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from markupsafe import Markup

from async_audit.analyze.model import ExampleRequest, Finding, Report
from async_audit.report import charts
from async_audit.report.base import Renderer
from async_audit.report.context import build_context, finding_title
from async_audit.report.source import highlight_code, highlight_excerpt, pygments_css, read_excerpt
from async_audit.report.templating import make_environment, render_template

MAX_WATERFALLS = 3


class HTMLRenderer(Renderer):
    """Styles, charts (inline SVG) and highlighted code inside the one file: it opens without a network."""

    name: ClassVar[str] = "html"
    output_file_extension: ClassVar[str] = "html"
    template: ClassVar[str] = "report/report.html"

    def render(self, report: Report) -> str:
        env = make_environment(self.templates)
        context = build_context(report)
        root = report.sources.source_root
        context.update(
            report=report,
            charts=_Charts(report),
            title_of=finding_title,
            excerpt_of=lambda finding: _excerpt_html(root, finding),
            highlight=highlight_code,
            pygments_css=pygments_css(),
        )
        return render_template(env, self.template, context)


def _excerpt_html(root: str | None, finding: Finding) -> dict[str, Any] | None:
    excerpt = read_excerpt(root, finding.site.file, finding.site.line)
    if excerpt is None:
        return None
    return {"excerpt": excerpt, "html": highlight_excerpt(excerpt)}


class _Charts:
    """The charts, each drawn when a template first asks for it: an override that leaves one out, or a
    template that fails early, costs no drawing."""

    def __init__(self, report: Report) -> None:
        self._report = report

    @cached_property
    def percentiles(self) -> Markup | None:
        return charts.latency_percentiles(self._report.endpoints, self._report.budgets)

    @cached_property
    def projection(self) -> Markup | None:
        return charts.measured_vs_projected(self._report.endpoints, self._report.budgets)

    @cached_property
    def categories(self) -> Markup | None:
        return charts.time_by_category(self._report.endpoints)

    @cached_property
    def waterfalls(self) -> list[tuple[ExampleRequest, Markup]]:
        drawn = []
        for index, example in enumerate(self._report.examples[:MAX_WATERFALLS]):
            svg = charts.waterfall(example, index)
            if svg is not None:
                drawn.append((example, svg))
        return drawn
