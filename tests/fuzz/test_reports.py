"""Every renderer under hostile reports: HTML and JavaScript, Markdown, CSV formulas, control characters, huge
numbers and NaN in every text and number field. No renderer may raise, and no hostile string may come out
unescaped for its format.

Two sources of reports: records built from hostile strings and run through the loader and the analyzer (what
a real audit of a hostile site produces), and the hand-built report of the renderer tests with every string
and float field replaced (what the analyzer never produces, but a renderer must survive anyway).
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import re
from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from async_audit.analyze import AnalysisOptions, analyze, load_records
from async_audit.analyze.model import Report
from async_audit.report import RENDERERS, get_renderer
from tests.fuzz.strategies import MARK_TAG, dumps, extreme_numbers, hostile_records, hostile_text
from tests.report.sample import make_report

_SETTINGS: dict[str, Any] = {
    "deadline": None,
    # Shrinking a report of hundreds of draws takes minutes; the failing example is printed unshrunk.
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
TEXT = settings(max_examples=25, **_SETTINGS)
# The HTML report draws its charts with matplotlib: seconds per report on a busy machine, so a few examples.
HTML = settings(max_examples=3, **_SETTINGS)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def check_html(text: str) -> None:
    parser = _Tags()
    parser.feed(text)
    tags = parser.tags
    assert not [t for t, _ in tags if t in (MARK_TAG, "script", "img", "iframe", "object", "embed", "form")]
    assert not [(t, a) for t, attrs in tags for a in attrs if a.startswith("on")]
    links = [(attrs.get("href") or attrs.get("src") or "") for _, attrs in tags]
    assert not [link for link in links if link.strip().lower().startswith(("javascript:", "data:"))]


def _outside_fences(markdown: str) -> str:
    """The Markdown without its fenced code blocks, whose content GitHub shows as literal text."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opening = re.match(r"^(`{3,}|~{3,})", line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is None:
            out.append(line)
    assert fence is None, "a code fence was never closed"
    return "\n".join(out)


def check_markdown(text: str) -> None:
    text = _outside_fences(text)
    assert f"<{MARK_TAG}" not in text and "<script" not in text and "<img" not in text
    # A link or an image is "](" with an unescaped "]" before it; recorded text escapes every bracket.
    assert not re.search(r"(?<!\\)\]\((?:javascript|http://evil)", text)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def check_csv(text: str) -> None:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows and all(len(row) == len(rows[0]) for row in rows)
    for row in rows[1:]:
        for cell in row:
            assert not (cell.startswith(FORMULA_START) and not _number(cell)), cell


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def check_json(text: str) -> None:
    _strict(text)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in text, repr(raw)


def check_sarif(text: str) -> None:
    document = _strict(text)
    for result in document["runs"][0]["results"]:
        message = result["message"]["text"]
        assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029]", message)
        assert not re.search(r"(?<!\\)\]\(", message)


CHECKS = {
    "html": check_html,
    "md": check_markdown,
    "csv": check_csv,
    "json": check_json,
    "sarif": check_sarif,
}


def render(report: Report, formats: list[str]) -> None:
    for name in formats:
        CHECKS[name](get_renderer(name).render(report))


TEXT_FORMATS = ["md", "csv", "json", "sarif"]


def test_every_renderer_has_an_escaping_check() -> None:
    assert set(CHECKS) == set(RENDERERS), "a new renderer needs its escaping check here"


def report_from(tmp_path_factory: Any, records: list[dict[str, Any]]) -> Report:
    path = tmp_path_factory.mktemp("hostile") / "records.jsonl"
    path.write_bytes(b"\n".join(dumps(r) for r in records) + b"\n")
    return analyze(load_records([path]), AnalysisOptions())


@TEXT
@given(hostile_records())
def test_text_reports_from_hostile_records(tmp_path_factory: Any, records: list[dict[str, Any]]) -> None:
    render(report_from(tmp_path_factory, records), TEXT_FORMATS)


@HTML
@given(hostile_records())
def test_html_reports_from_hostile_records(tmp_path_factory: Any, records: list[dict[str, Any]]) -> None:
    render(report_from(tmp_path_factory, records), ["html"])


def _replace_leaves(value: Any, draw: st.DrawFn, depth: int = 0) -> Any:
    """Every plain string and float in a report's dataclasses, lists and dicts, replaced by drawn ones."""
    if isinstance(value, enum.Enum) or depth > 6:
        return value
    if type(value) is str:
        return draw(hostile_text) if draw(st.booleans()) else value
    if type(value) is float:
        return draw(extreme_numbers) if draw(st.integers(0, 3)) == 0 else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _replace_leaves(getattr(value, f.name), draw, depth + 1)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, list):
        return [_replace_leaves(item, draw, depth + 1) for item in value]
    if isinstance(value, dict):
        return {key: _replace_leaves(item, draw, depth + 1) for key, item in value.items()}
    return value


@TEXT
@given(st.data())
def test_hand_built_text_reports_with_every_field_hostile(data: st.DataObject) -> None:
    render(_replace_leaves(make_report(), data.draw), TEXT_FORMATS)


@HTML
@given(st.data())
def test_hand_built_html_reports_with_every_field_hostile(data: st.DataObject) -> None:
    render(_replace_leaves(make_report(), data.draw), ["html"])
