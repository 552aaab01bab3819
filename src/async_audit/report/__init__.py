"""Stage 3: the report in every format, from one :class:`~async_audit.analyze.model.Report`.

One :class:`Renderer` subclass per format, registered by name in :data:`RENDERERS`::

    from async_audit.report import write_reports
    write_reports(report, Path("audit"), ["html", "md", "json", "csv", "sarif"])
"""

from __future__ import annotations

from async_audit.report.base import RENDERERS, Renderer, get_renderer, write_reports
from async_audit.report.csv import CSVRenderer
from async_audit.report.html import HTMLRenderer
from async_audit.report.json import JSONRenderer
from async_audit.report.markdown import MarkdownRenderer
from async_audit.report.sarif import SARIFRenderer
from async_audit.report.templating import make_environment, packaged_templates

#: The formats written when none is asked for: all of them (the charts make HTML the slow one).
DEFAULT_FORMATS = ("html", "md", "json", "csv", "sarif")

__all__ = [
    "CSVRenderer",
    "DEFAULT_FORMATS",
    "HTMLRenderer",
    "JSONRenderer",
    "MarkdownRenderer",
    "RENDERERS",
    "Renderer",
    "SARIFRenderer",
    "get_renderer",
    "make_environment",
    "packaged_templates",
    "write_reports",
]
