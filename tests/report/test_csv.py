from __future__ import annotations

import csv
import io

import pytest

from async_audit.analyze.model import Report
from async_audit.report import CSVRenderer
from async_audit.report.csv import COLUMNS
from async_audit.report.formatting import csv_cell


def _rows(report: Report) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(CSVRenderer().render(report), newline="")))


def test_one_row_per_finding_in_priority_order(report: Report) -> None:
    text = CSVRenderer().render(report)
    assert text.startswith('"priority","id",')
    assert "\r\n" in text
    rows = _rows(report)
    assert len(rows) == len(report.findings)
    assert list(rows[0]) == list(COLUMNS)
    assert [r["id"] for r in rows[:3]] == ["f-defer-email", "f-defer-crm", "f-batch-index"]
    first = rows[0]
    assert first["file"] == "accounts/views.py" and first["line"] == "11"
    assert first["stub_task_name"] == "send_welcome_email"
    assert float(first["savings_ms_per_request"]) == pytest.approx(905.2)
    assert first["atomic"] == "true"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("accounts/signup/", "accounts/signup/"),
        (-3.5, -3.5),
        (12, 12),
        (None, ""),
        (True, "true"),
        (float("nan"), ""),
    ],
)
def test_cells_are_neutralised(value: object, expected: object) -> None:
    assert csv_cell(value) == expected
