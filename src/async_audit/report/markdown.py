"""The Markdown report (GitHub-flavoured): the HTML report's content without the charts, for a ticket."""

from __future__ import annotations

from typing import ClassVar

from async_audit.analyze.model import Finding, Report
from async_audit.report.base import Renderer
from async_audit.report.context import build_context, finding_title
from async_audit.report.source import Excerpt, read_excerpt
from async_audit.report.templating import make_environment, render_template


class MarkdownRenderer(Renderer):
    """Recorded text is escaped for Markdown (and the HTML GitHub lets through) by the ``md`` filter."""

    name: ClassVar[str] = "md"
    output_file_extension: ClassVar[str] = "md"
    template: ClassVar[str] = "report/report.md"

    def render(self, report: Report) -> str:
        env = make_environment(self.templates)
        context = build_context(report)
        root = report.sources.source_root

        def excerpt_of(finding: Finding) -> Excerpt | None:
            return read_excerpt(root, finding.site.file, finding.site.line)

        context.update(report=report, title_of=finding_title, excerpt_of=excerpt_of)
        text = render_template(env, self.template, context)
        # Blank runs left by optional sections would read as stray spacing in a ticket.
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        return text
