from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from async_audit.analyze import load as load_module
from async_audit.analyze import load_records, recordings_from_dicts
from async_audit.analyze.schema import CALL_COLUMNS, REQUEST_COLUMNS, dtype_name
from async_audit.errors import InputError, RecordFormatError
from tests.analyze.records import email, http, request, site, write


def test_frames_follow_the_declared_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", [request(100.0, [http(1.0, 20.0), email(30.0, 40.0)]), request(50.0)])
    rec = load_records([path])
    assert list(rec.requests.columns) == list(REQUEST_COLUMNS)
    assert list(rec.calls.columns) == list(CALL_COLUMNS)
    for frame, schema in ((rec.requests, REQUEST_COLUMNS), (rec.calls, CALL_COLUMNS)):
        for column, (dtype, _) in schema.items():
            assert dtype_name(frame[column].dtype) == dtype, column
    assert rec.calls["req"].tolist() == [0, 0]
    assert rec.calls["idx"].tolist() == [0, 1]
    assert rec.calls["kind"].tolist() == ["http", "email"]
    assert rec.calls["parent"].tolist() == [-1, -1]
    assert rec.calls["timeout"].iloc[0] == 5.0
    assert pd.isna(rec.calls["timeout"].iloc[1])
    assert rec.stats.records == 2 and rec.stats.calls == 2 and rec.stats.skipped_lines == 0
    assert rec.stats.hosts == ["web-1"] and rec.stats.processes == 1


def test_torn_undecodable_and_invalid_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    good = request(100.0, [http(1.0, 20.0)])
    missing_ms = request(10.0)
    del missing_ms["ms"]
    wrong_type = request(10.0, [http(1.0, 2.0, host=7)])
    bad_parent = request(10.0, [http(1.0, 2.0, parent=3)])
    negative = request(-5.0)
    lines = [
        json.dumps(good),
        json.dumps(missing_ms),
        json.dumps(wrong_type),
        json.dumps(bad_parent),
        json.dumps(negative),
        "not json",
        "[1, 2]",
        "",
        "   ",
        json.dumps(good)[:40],
    ]
    path = tmp_path / "b.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe{\n")
    rec = load_records([path])
    assert rec.stats.records == 1
    assert rec.stats.skipped_lines == 8  # 4 invalid records, "not json", an array, a torn line, bad bytes
    assert rec.stats.skipped_by_file == {str(path.resolve()): 8}


def test_files_directories_and_globs_are_merged_once(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    write(tmp_path / "d" / "a.jsonl", [request(1.0)])
    write(tmp_path / "d" / "sub" / "b.jsonl", [request(2.0), request(3.0)])
    write(tmp_path / "d" / "notes.txt", ["not a record file"])
    rec = load_records([tmp_path / "d", str(tmp_path / "d" / "*.jsonl"), tmp_path / "d" / "a.jsonl"])
    assert rec.stats.files == 2
    assert sorted(rec.requests["ms"]) == [1.0, 2.0, 3.0]


def test_unknown_major_version_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "v.jsonl", [request(1.0), request(2.0), {**request(3.0), "v": 2}])
    with pytest.raises(RecordFormatError, match=r"v\.jsonl:3: record format version 2"):
        load_records([path])


@pytest.mark.parametrize("content", ["", "\n\n", 'garbage\n{"v": 1}\n'])
def test_no_records_at_all_is_an_input_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match="no records"):
        load_records([path])


def test_missing_paths_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_records([tmp_path / "nope.jsonl"])
    with pytest.raises(InputError, match="no file matches"):
        load_records([str(tmp_path / "*.jsonl")])
    with pytest.raises(InputError, match="no \\*.jsonl"):
        load_records([tmp_path])


def test_representative_stack_per_route_and_site(tmp_path: Path) -> None:
    handler = site("shop/signals.py", 5, "notify")
    view = site("shop/views.py", 40, "checkout")
    rec = recordings_from_dicts([request(10.0, [email(1.0, 2.0, at=handler, stack=[handler, view])])])
    stack = rec.stacks[("shop/checkout/", "shop/signals.py", 5, "notify")]
    assert [(s.file, s.line, s.function) for s in stack] == [
        ("shop/signals.py", 5, "notify"),
        ("shop/views.py", 40, "checkout"),
    ]


def test_pieces_in_worker_processes_give_the_same_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [
        request(float(n), [http(0.0, n / 2.0), email(1.0, 1.0)], route=f"r{n % 3}/") for n in range(300)
    ]
    path = write(tmp_path / "big.jsonl", records, extra_lines=["torn {"])
    single = load_records([path])
    monkeypatch.setattr(load_module, "_PIECE_BYTES", 4096)
    monkeypatch.setattr(load_module, "_PARALLEL_BYTES", 1)
    seen: list[tuple[int, int]] = []
    parallel = load_records([path], progress=lambda done, total: seen.append((done, total)))
    assert len(seen) > 5 and seen[-1][0] == seen[-1][1] == path.stat().st_size
    assert parallel.stats.skipped_lines == single.stats.skipped_lines == 1
    pd.testing.assert_frame_equal(
        parallel.requests.drop(columns="file").astype({"route": object}),
        single.requests.drop(columns="file").astype({"route": object}),
    )
    pd.testing.assert_frame_equal(
        parallel.calls.astype({c: object for c, (d, _) in CALL_COLUMNS.items() if d == "category"}),
        single.calls.astype({c: object for c, (d, _) in CALL_COLUMNS.items() if d == "category"}),
    )


def test_line_endings_bom_whitespace_and_bad_bytes(tmp_path: Path) -> None:
    good = json.dumps(request(5.0))
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(("\ufeff" + good + "\r\n  " + good + "  \r\n" + good + " trailing\n").encode())
    rec = load_records([path])
    assert (rec.stats.records, rec.stats.skipped_lines) == (2, 1)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(good.encode() + b"\n" + good.replace("web-1", "w\xe9b").encode("latin-1") + b"\n")
    rec = load_records([latin])
    assert (rec.stats.records, rec.stats.skipped_lines) == (1, 1)
