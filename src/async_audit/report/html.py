"""The HTML report: one self-contained file a consultant hands to a client."""

from __future__ import annotations

from typing import Any, ClassVar

from markupsafe import Markup

from async_audit.analyze.model import Finding, Report
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
            charts=_charts(report),
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


def _charts(report: Report) -> dict[str, Any]:
    waterfalls: list[tuple[Any, Markup]] = []
    for index, example in enumerate(report.examples[:MAX_WATERFALLS]):
        svg = charts.waterfall(example, index)
        if svg is not None:
            waterfalls.append((example, svg))
    return {
        "percentiles": charts.latency_percentiles(report.endpoints, report.budgets),
        "projection": charts.measured_vs_projected(report.endpoints, report.budgets),
        "categories": charts.time_by_category(report.endpoints),
        "waterfalls": waterfalls,
    }
