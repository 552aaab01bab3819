"""Every renderer over the same report models (pyinstrument's parametrised renderer test)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from async_audit.analyze.model import Report
from async_audit.report import RENDERERS, Renderer, get_renderer
from tests.report.sample import HOSTILE, empty_report, make_report

FORMATS = sorted(RENDERERS)


def test_every_format_is_registered() -> None:
    assert FORMATS == ["csv", "html", "json", "md", "sarif"]
    for name, cls in RENDERERS.items():
        assert issubclass(cls, Renderer)
        assert cls.name == name
        assert cls.output_file_extension


@pytest.mark.parametrize("name", FORMATS)
def test_renders_the_rich_report_deterministically(name: str, report: Report) -> None:
    renderer = get_renderer(name)
    first = renderer.render(report)
    assert first == renderer.render(report)
    # Every finding is in every format: by id in machine formats, by its reason in people's formats.
    for finding in report.findings:
        assert finding.id in first
    assert first.endswith("\n")


@pytest.mark.parametrize("name", FORMATS)
def test_renders_an_empty_report(name: str) -> None:
    text = get_renderer(name).render(empty_report())
    assert text.strip()
    if name in ("json", "sarif"):
        json.loads(text)


def _unescaped_script(text: str) -> bool:
    return "<script>" in text.lower()


def _outside_fences(markdown: str) -> str:
    """The Markdown outside fenced code blocks (whose content is shown literally, never interpreted)."""
    kept, fence = [], None
    for line in markdown.splitlines():
        match = re.match(r"^(`{3,}|~{3,})", line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and line.startswith(fence) and line.strip() == fence:
            fence = None
        elif fence is None:
            kept.append(line)
    assert fence is None, "unclosed code fence"
    return "\n".join(kept)


def _tables(markdown: str) -> list[list[str]]:
    tables: list[list[str]] = []
    current: list[str] = []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.mark.parametrize("name", FORMATS)
def test_hostile_recorded_text_comes_out_escaped(name: str, hostile_report: Report, tmp_path: Path) -> None:
    text = get_renderer(name).render(hostile_report)
    if name == "html":
        assert not _unescaped_script(text)
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
        # The only <script-like tag text left is inside escaped text; no attribute is broken out of.
        assert 'javascript:x"' not in text
    elif name == "md":
        prose = _outside_fences(text)
        assert not _unescaped_script(prose)
        assert "&lt;script&gt;" in prose
        assert "\\[a\\]\\(javascript:x\\)" in prose  # no link
        assert "\\|" in prose and "\\`" in prose and "\\*" in prose and "\\_" in prose
        # Every row of every table has its header's column count: recorded pipes are escaped.
        for table in _tables(prose):
            widths = {len(re.split(r"(?<!\\)\|", row)) for row in table}
            assert len(widths) == 1, table
    elif name == "json":
        assert not _unescaped_script(text)
        data = json.loads(text)
        assert HOSTILE in data["title"]  # escaped in transit, identical once parsed
    elif name == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) == len(hostile_report.findings) + 1
        for row in rows[1:]:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
        reasons = [row[rows[0].index("reason")] for row in rows[1:]]
        assert any("=HYPERLINK(" in reason for reason in reasons)  # kept as text, not at the start of a cell
    elif name == "sarif":
        data = json.loads(text)
        messages = [r["message"]["text"] for r in data["runs"][0]["results"]]
        # SARIF reads [text](target) as a link: recorded brackets are escaped.
        assert all("[a](javascript" not in m for m in messages)
        assert any("\\[a\\](javascript:x)" in m for m in messages)


def test_hostile_csv_cells_that_start_like_formulas_are_neutralised() -> None:
    report = make_report()
    for finding, start in zip(report.findings, ["=", "+", "-", "@", "\t", "\r", "=HYPERLINK("], strict=False):
        finding.route = f'{start}cmd|" /C calc"!A0'
    rows = list(csv.reader(io.StringIO(get_renderer("csv").render(report)), strict=True))
    routes = [row[rows[0].index("route")] for row in rows[1:]]
    starts = [r for r in routes if r.startswith("'")]
    assert len(starts) == 7
