"""The Markdown report (GitHub-flavoured): the HTML report's content without the charts, for a ticket."""

from __future__ import annotations

import re
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
        return squeeze_blank_lines(render_template(env, self.template, context))


def squeeze_blank_lines(markdown: str) -> str:
    """One blank line at most between blocks (optional sections leave runs of them), never inside code."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opening = re.match(r"^(`{3,}|~{3,})", line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is None and not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return "\n".join(out)
