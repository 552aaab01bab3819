from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from async_audit.analyze import (
    AnalysisOptions,
    Recordings,
    _arrow,
    analyze,
    load_records,
    recordings_from_dicts,
)
from async_audit.analyze import load as load_module
from async_audit.analyze.schema import CALL_COLUMNS, REQUEST_COLUMNS, dtype_name
from async_audit.errors import InputError, RecordFormatError
from async_audit.record.sink import LogOutput
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


def _log_lines(path: Path) -> tuple[int, int]:
    """(lines that carry a record, other non-blank lines) of a log file."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    marked = sum(1 for line in lines if "async-audit {" in line)
    return marked, len(lines) - marked


def _same_records(got: Recordings, want: Recordings) -> None:
    pd.testing.assert_frame_equal(got.requests.drop(columns="file"), want.requests.drop(columns="file"))
    pd.testing.assert_frame_equal(got.calls, want.calls)
    assert got.stacks == want.stacks


@pytest.fixture(params=["fast", "standard library"])
def path_taken(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways to read a piece, and pieces small enough that a file is cut into several."""
    if request.param != "fast":
        monkeypatch.setattr(_arrow, "AVAILABLE", False)
    monkeypatch.setattr(load_module, "_PIECE_BYTES", 3000)
    return str(request.param)


def _shop_records(n: int) -> list[dict[str, object]]:
    return [
        request(100.0 + i, [http(1.0, 20.0 + i), email(30.0, 40.0)], route=f"r{i % 3}/", view=f"v{i % 3}")
        for i in range(n)
    ]


def test_records_from_a_log_file_written_through_logging(tmp_path: Path, path_taken: str) -> None:
    # The recorder's log sink with a logging format that puts time, level and logger before the message,
    # beside the site's own log output: warnings and a traceback spread over several lines.
    records = _shop_records(40)
    path = tmp_path / "web.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    sink_logger, app = logging.getLogger("async_audit.records"), logging.getLogger("shop.views")
    saved = (sink_logger.level, sink_logger.propagate, app.propagate)
    for logger in (sink_logger, app):
        logger.addHandler(handler)
        logger.propagate = False
    sink_logger.setLevel(logging.INFO)
    try:
        output = LogOutput()
        for n, record in enumerate(records):
            output.write([json.dumps(record) + "\n"])
            if n % 7 == 0:
                app.warning("Not Found: /orders/%d/", n)
            if n % 13 == 0:
                try:
                    raise ValueError("card declined")
                except ValueError:
                    app.exception("Internal Server Error: /checkout/")
    finally:
        for logger in (sink_logger, app):
            logger.removeHandler(handler)
        sink_logger.setLevel(saved[0])
        sink_logger.propagate, app.propagate = saved[1], saved[2]
        handler.close()

    marked, other = _log_lines(path)
    assert (marked, other > 10) == (40, True)
    rec = load_records([path])
    assert (rec.stats.records, rec.stats.skipped_lines) == (40, 0)
    assert (rec.stats.log_files, rec.stats.non_record_lines) == (1, other)
    _same_records(rec, load_records([write(tmp_path / "plain.jsonl", records)]))
    report = analyze(rec, AnalysisOptions())
    assert (report.sources.skipped_lines, report.sources.non_record_lines) == (0, other)
    assert any(f"{other} other lines held no record" in note for note in report.sources.notes)
    assert not any("skipped" in note for note in report.sources.notes)


def test_records_from_a_heroku_log_drain(tmp_path: Path, path_taken: str) -> None:
    records = _shop_records(25)
    lines = ["2026-11-28T10:00:00+00:00 app[web.1]: [2026-11-28 10:00:00 +0000] [4] [INFO] Booting worker"]
    for n, record in enumerate(records):
        lines.append(
            f"2026-11-28T10:00:{n:02d}.123456+00:00 app[web.{n % 2 + 1}]: async-audit {json.dumps(record)}"
        )
        lines.append(
            f'2026-11-28T10:00:{n:02d}+00:00 heroku[router]: at=info method=POST path="/r{n % 3}/" '
            f"host=shop.example.com request_id=ab{n} fwd=10.0.0.1 dyno=web.1 connect=0ms service={n}ms "
            "status=200 bytes=512 protocol=https"
        )
    # A record the drain cut short (log lines have a length limit): a lost record, counted as one.
    torn = f"2026-11-28T10:01:00+00:00 app[web.1]: async-audit {json.dumps(records[0])[:300]}"
    lines += [torn, "", "2026-11-28T10:01:01+00:00 heroku[web.1]: State changed from up to down"]
    path = tmp_path / "drain.log"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")

    rec = load_records([path])
    assert (rec.stats.records, rec.stats.skipped_lines, rec.stats.non_record_lines) == (25, 1, 27)
    assert rec.stats.skipped_by_file == {str(path.resolve()): 1}
    _same_records(rec, load_records([write(tmp_path / "plain.jsonl", records)]))
    notes = analyze(rec, AnalysisOptions()).sources.notes
    assert "1 torn, undecodable or invalid lines were skipped." in notes
    assert any("27 other lines held no record" in note for note in notes)


def test_a_log_file_and_a_record_file_together(tmp_path: Path) -> None:
    records = _shop_records(6)
    log = tmp_path / "web.log"
    log.write_text(
        "".join(
            f"INFO async_audit.records async-audit {json.dumps(r)}\nINFO other line\n" for r in records[:3]
        )
    )
    plain = write(tmp_path / "a.jsonl", records[3:], extra_lines=["not a record"])
    rec = load_records([log, plain])
    assert (rec.stats.records, rec.stats.files, rec.stats.log_files) == (6, 2, 1)
    # the record file's broken line is a lost record; the log file's other lines are not
    assert (rec.stats.skipped_lines, rec.stats.non_record_lines) == (1, 3)
    assert rec.stats.skipped_by_file == {str(plain.resolve()): 1}


def test_a_log_file_without_records_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "web.log"
    path.write_text("INFO booting\nWARNING async-audit could not write 3 record(s): disk full\n")
    with pytest.raises(InputError, match="no records found"):
        load_records([path])


def test_an_unknown_version_in_a_log_file_names_its_line(tmp_path: Path, path_taken: str) -> None:
    lines = [f"INFO async-audit {json.dumps(r)}" for r in _shop_records(3)]
    lines.insert(1, "INFO something else")
    lines.append(f"INFO async-audit {json.dumps({**request(1.0), 'v': 2})}")
    path = tmp_path / "web.log"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordFormatError, match=r"web\.log:5: record format version 2"):
        load_records([path])
