"""The loader and the analyzer under arbitrary input: bytes, broken lines, and records whose nested values
have the wrong types. Nothing but an ``InputError`` may come out, every whole valid record is read, and every
other line is counted as skipped.

``tests/analyze/test_properties.py`` damages top-level keys; here whole files of arbitrary bytes, nested keys
(``db``, ``lost``, ``site``, ``stack`` frames) and mixtures of good and bad lines are fed in.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from async_audit.analyze import AnalysisOptions, analyze, load_records
from async_audit.analyze._parse import parse_lines
from async_audit.errors import InputError
from async_audit.report import get_renderer
from tests.analyze.records import email, http, request, site
from tests.fuzz.strategies import dumps, hostile_records, json_values

SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=200, deadline=None)


@QUICK
@given(st.binary(max_size=2000))
@example(b"\xef\xbb\xbf{}\r\n\x00")
@example(b"[" * 50_000)
@example(b'{"v": 1e999}\n{"v": -0}\n{"v": NaN}\n')
def test_parse_lines_takes_any_bytes(data: bytes) -> None:
    chunk = parse_lines(data)
    lines = [line for line in data.split(b"\n") if line.strip()]
    assert chunk.records + chunk.skipped <= max(len(lines), 1)


def _good() -> dict[str, Any]:
    at = site("shop/views.py", 12, "checkout")
    return request(1200.0, [http(1.0, 600.0, at=at), email(700.0, 400.0, at=at)])


_NESTED_PATHS: list[tuple[Any, ...]] = [
    ("db",),
    ("db", "n"),
    ("db", "ms"),
    ("lost",),
    ("lost", "queue"),
    ("lost", "write"),
    ("unsampled",),
    ("dropped",),
    ("calls",),
    ("calls", 0),
    ("calls", 0, "site"),
    ("calls", 0, "site", "line"),
    ("calls", 0, "site", "file"),
    ("calls", 0, "stack"),
    ("calls", 0, "stack", 0),
    ("calls", 0, "stack", 0, "function"),
    ("calls", 0, "parent"),
    ("calls", 1, "t"),
    ("calls", 1, "ms"),
    ("calls", 1, "kind"),
    ("calls", 0, "port"),
    ("calls", 0, "timeout"),
    ("calls", 1, "recipients"),
    ("ts",),
    ("ms",),
    ("status",),
    ("id",),
    ("pid",),
]


def _set(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@st.composite
def mixed_file(draw: st.DrawFn) -> tuple[bytes, int]:
    """Good records, records with one nested value of a wrong type, and junk lines; and how many are good."""
    lines: list[bytes] = []
    good = 0
    for _ in range(draw(st.integers(1, 10))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            lines.append(dumps(_good()))
            good += 1
        elif choice == 1:
            record = _good()
            _set(record, draw(st.sampled_from(_NESTED_PATHS)), draw(json_values))
            lines.append(dumps(record))
        elif choice == 2:
            lines.append(draw(st.binary(max_size=60)).replace(b"\n", b" "))
        else:
            text = dumps(_good())
            lines.append(text[: draw(st.integers(0, len(text) - 1))])  # torn
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    return ending.join(lines) + draw(st.sampled_from([b"", ending])), good


@SLOW
@given(mixed_file())
@example((b"\x1c\n" + dumps(_good()), 1))
def test_every_good_record_loads_and_everything_else_is_counted(tmp_path_factory: Any, case: Any) -> None:
    data, good = case
    path = tmp_path_factory.mktemp("mixed") / "records.jsonl"
    path.write_bytes(data)
    lines = [line for line in data.split(b"\n") if line.strip()]  # blank: ASCII whitespace only
    try:
        loaded = load_records([path])
    except InputError as exc:
        assert good == 0, exc
        assert "\n" not in str(exc)
        return
    assert loaded.stats.records >= good
    assert loaded.stats.records + loaded.stats.skipped_lines == len(lines)
    report = analyze(loaded, AnalysisOptions())
    json.loads(get_renderer("json").render(report))


@SLOW
@given(hostile_records())
def test_hostile_valid_records_load_whole_and_analyse(
    tmp_path_factory: Any, records: list[dict[str, Any]]
) -> None:
    path = tmp_path_factory.mktemp("hostile") / "records.jsonl"
    path.write_bytes(b"\n".join(dumps(r) for r in records) + b"\n")
    loaded = load_records([path])
    assert loaded.stats.records == len(records) and loaded.stats.skipped_lines == 0
    report = analyze(loaded, AnalysisOptions())
    assert sum(e.count for e in report.endpoints) == len(records)


def test_a_record_of_the_wrong_shape_inside_a_good_file_costs_only_its_line(tmp_path: Path) -> None:
    bad = copy.deepcopy(_good())
    bad["calls"][0]["stack"] = [["shop/views.py", 12, "checkout"]]  # frames are objects, never arrays
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join([dumps(_good()), dumps(bad), dumps(_good())]) + b"\n")
    loaded = load_records([path])
    assert loaded.stats.records + loaded.stats.skipped_lines == 3
    assert loaded.stats.records >= 2
