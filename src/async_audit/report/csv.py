"""The CSV report: one row per finding, for a consultant's spreadsheet."""

from __future__ import annotations

import csv
import io
from typing import ClassVar

from async_audit.analyze.model import Finding, Report
from async_audit.report.base import Renderer
from async_audit.report.context import finding_order
from async_audit.report.formatting import csv_cell, one_line

COLUMNS = (
    "priority",
    "id",
    "severity",
    "kind",
    "category",
    "disposition",
    "method",
    "route",
    "view",
    "file",
    "line",
    "function",
    "count",
    "requests",
    "calls_per_request",
    "mean_ms",
    "p95_ms",
    "share_of_request",
    "savings_ms_per_request",
    "error_rate",
    "no_timeout_rate",
    "lib",
    "via",
    "target",
    "atomic",
    "source",
    "confirmed",
    "rule",
    "example_request_id",
    "stub_backend",
    "stub_task_name",
    "reason",
)


class CSVRenderer(Renderer):
    """RFC 4180 (comma, ``\\r\\n``, quoted text); cells that a spreadsheet would run as a formula are
    neutralised with a leading apostrophe."""

    name: ClassVar[str] = "csv"
    output_file_extension: ClassVar[str] = "csv"
    preserve_newlines: ClassVar[bool] = True

    def render(self, report: Report) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for finding in sorted(report.findings, key=finding_order):
            writer.writerow([csv_cell(value) for value in row(finding)])
        return buffer.getvalue()


def row(finding: Finding) -> list[object]:
    """The finding's cells in :data:`COLUMNS` order, before neutralising."""
    stub = finding.stub
    return [
        finding.priority or None,
        finding.id,
        finding.severity,
        finding.kind,
        finding.category,
        finding.disposition,
        finding.method,
        finding.route,
        finding.view,
        finding.site.file,
        finding.site.line,
        finding.site.function,
        finding.count,
        finding.requests,
        round(finding.calls_per_request, 3),
        round(finding.mean_ms, 1),
        round(finding.p95_ms, 1),
        round(finding.share_of_request, 4),
        round(finding.savings_ms_per_request, 1),
        round(finding.error_rate, 4),
        round(finding.no_timeout_rate, 4),
        finding.lib,
        finding.via,
        finding.target,
        finding.atomic,
        finding.source,
        finding.confirmed,
        finding.rule,
        finding.example_request_id,
        stub.backend if stub else None,
        stub.task_name if stub else None,
        one_line(finding.reason),
    ]
