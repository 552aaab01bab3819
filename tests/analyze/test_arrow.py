"""The loader's pyarrow path gives exactly what the standard library's path gives, and declines every piece it
cannot take whole, so the other path decides those lines."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from async_audit.analyze import _arrow, _parse, load_records
from async_audit.analyze import load as load_module
from tests.analyze.records import email, http, request, site

pytest.importorskip("pyarrow")


def _records() -> list[dict[str, Any]]:
    at = site("shop/views.py", 12, "checkout")
    other = site("shop/crm.py", 7, "push")
    nested = request(
        900.0,
        [email(1.0, 300.0, at=at), http(2.0, 250.0, parent=0, at=other, via="sendgrid", timeout=None)],
        route="signup/",
    )
    nested["calls"][1]["stack"] = [other, None, at]  # a null frame is left out, as by the other path
    bare = request(40.0, route=None, view=None)
    bare.update(host=None, pid=None, cpu_ms=None, db=None, lost=None, proto="silk", status=0)
    extra = request(70.0, [http(5.0, 30.0, status=None, port=None, unknown={"x": [1, "a", None]})])
    extra["unknown"] = [1, {"nested": ["mixed", 2]}]
    unicode = request(12.5, [http(0.5, 1.0, path="/caf\u00e9/{id}")], view="shop.views.caf\u00e9")
    return [nested, bare, extra, unicode, request(1.0, [], status=500)]


def _lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def _same(fast: _parse.Chunk, slow: _parse.Chunk) -> None:
    assert (fast.records, fast.skipped, fast.bad_version) == (slow.records, slow.skipped, slow.bad_version)
    for got, want in ((fast.requests, slow.requests), (fast.calls, slow.calls)):
        assert sorted(got) == sorted(want)
        for key in want:
            if isinstance(want[key], tuple):
                assert got[key][1] == want[key][1], key
                assert got[key][0].tolist() == want[key][0].tolist(), key
            else:
                pd.testing.assert_series_equal(pd.Series(got[key]), pd.Series(want[key]), obj=key)
    assert fast.stacks == slow.stacks


def test_fast_path_gives_the_same_columns() -> None:
    data = _lines(_records())
    fast = _arrow.parse_lines(data)
    assert fast is not None
    _same(fast, _parse.parse_lines(data))


def _declined(record_line: bytes) -> None:
    data = _lines(_records()) + record_line + b"\n" + _lines(_records())
    assert _arrow.parse_lines(data) is None
    assert _parse.parse_lines(data).records in (10, 11)


@pytest.mark.parametrize(
    "line",
    [
        b"",  # blank: pyarrow skips it silently
        b"   ",
        _lines(_records()[:2]).replace(b"\n", b"", 1).rstrip(b"\n"),  # two records on one line
        b'{"v": 1, "id": "x"}',  # required keys missing
        b"not json",
        b"[1, 2]",
        b"\xef\xbb\xbf" + _lines(_records()[:1]).rstrip(b"\n"),  # a BOM inside the file
    ],
)
def test_lines_the_fast_path_must_not_take(line: bytes) -> None:
    _declined(line)


def _mutated(path: tuple[Any, ...], value: Any) -> bytes:
    record = copy.deepcopy(_records()[0])
    target: Any = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(record, allow_nan=True).encode()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("ms",), float("nan")),
        (("ms",), -1.0),
        (("ts",), float("inf")),
        (("ts",), 1e12),
        (("status",), 2**60),
        (("status",), 200.0),
        (("calls", 1, "parent"), 1),
        (("calls", 1, "parent"), -1),
        (("calls", 0, "ms"), -0.5),
        (("calls", 0, "kind"), None),
        (("calls", 0), None),
        (("calls", 0, "site", "line"), "12"),
        (("db", "n"), True),
        (("pid",), 2**53),
    ],
)
def test_invalid_records_send_the_piece_to_the_other_path(path: tuple[Any, ...], value: Any) -> None:
    _declined(_mutated(path, value))


def test_other_versions_are_left_to_the_other_path(tmp_path: Path) -> None:
    assert _arrow.parse_lines(_mutated(("v",), 2) + b"\n") is None


def test_invalid_utf8_is_declined() -> None:
    data = _lines(_records()) + b'{"v": 1, "x": "\xff"}\n'
    assert _arrow.parse_lines(data) is None


def test_files_load_the_same_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "records.jsonl"
    good = _lines(_records() * 3)
    path.write_bytes(good + b"not json\n" + good + _lines(_records()[:1]).rstrip(b"\n")[:-9])  # torn end
    monkeypatch.setattr(load_module, "_PIECE_BYTES", len(good) // 2)
    fast = load_records([path])
    monkeypatch.setattr(_arrow, "AVAILABLE", False)
    slow = load_records([path])
    pd.testing.assert_frame_equal(fast.requests, slow.requests)
    pd.testing.assert_frame_equal(fast.calls, slow.calls)
    assert fast.stacks == slow.stacks
    assert fast.stats == slow.stats
    assert fast.stats.skipped_lines == 2 and fast.stats.records == 30


def test_a_torn_last_line_does_not_cost_the_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = _parse.parse_lines

    def counting(data: bytes) -> _parse.Chunk:
        calls.append(len(data))
        return original(data)

    monkeypatch.setattr(_parse, "parse_lines", counting)
    body = _lines(_records())
    assert _arrow.parse_lines(body) is not None
    torn = b'{"v": 1, "id": "ab'
    assert len(body) not in calls
    chunks = load_module._parse_piece_bytes(body + torn)
    assert [c.records for c in chunks] == [5, 0] and chunks[1].skipped == 1
    assert calls == [len(torn)]


def test_stacks_already_sent_in_this_load_are_left_out() -> None:
    data = _lines(_records())
    seen: set[tuple[object, ...]] = set()
    first = _arrow.parse_lines(data, seen=seen)
    again = _arrow.parse_lines(data, seen=seen)
    assert first is not None and again is not None
    assert first.stacks == _parse.parse_lines(data).stacks and set(first.stacks) == seen
    assert again.stacks == {}


def test_every_load_sends_its_stacks_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(_lines(_records() * 4))
    monkeypatch.setattr(load_module, "_PIECE_BYTES", 2000)
    first, second = load_records([path]), load_records([path])
    assert first.stacks and first.stacks == second.stacks
    monkeypatch.setattr(_arrow, "AVAILABLE", False)
    assert load_records([path]).stacks == first.stacks
