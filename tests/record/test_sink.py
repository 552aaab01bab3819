"""The sink: whole JSON lines, one owner-only file per process, rotation, the log sink, every loss counted.

A request thread only ever ``put``s; these tests stall, break and delete what the writer thread writes to and
check that ``put`` still returns at once and that every record is either written whole or counted as lost.
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import re
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from async_audit.conf import get_config
from async_audit.record import sink as sink_module
from async_audit.record.sink import (
    LOG_PREFIX,
    FileOutput,
    LogOutput,
    Output,
    Sink,
    build_record,
    get_sink,
    register_encoder,
    reset_sink,
)
from async_audit.record.trace import Trace, begin_call, current_trace

NAME = re.compile(r"^async-audit-(?P<host>.+)-(?P<pid>\d+)-(?P<start>\d{8}T\d{6})(?:-(?P<part>\d+))?\.jsonl$")


def record(i: int, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "id": f"{i:016x}", "n": i, "unsampled": 0, "lost": {"queue": 0, "write": 0}, **extra}


def read_lines(directory: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(directory.glob("*.jsonl")):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n")
        out.extend(json.loads(line) for line in text.splitlines())
    return out


def file_sink(directory: Path, max_bytes: int = 1 << 30, queue_size: int = 100_000) -> Sink:
    return Sink(lambda: FileOutput(directory, max_bytes), queue_size)


@pytest.fixture
def sinks() -> Iterator[list[Sink]]:
    made: list[Sink] = []
    yield made
    for s in made:
        s.close(timeout=2)


class GatedOutput(Output):
    """Blocks inside ``write`` until released: a disk that hangs (NFS, a full pipe)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.lines: list[str] = []

    def write(self, lines: list[str]) -> None:
        self.entered.set()
        self.release.wait(10)
        self.lines.extend(lines)


class FailingOutput(Output):
    """Fails its first ``failures`` writes with ENOSPC, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.lines: list[str] = []
        self.closed = 0

    def write(self, lines: list[str]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        self.lines.extend(lines)

    def close(self) -> None:
        self.closed += 1


def test_whole_lines_in_one_owner_only_file_per_process(tmp_path: Path, sinks: list[Sink]) -> None:
    directory = tmp_path / "deep" / "records"
    sink = file_sink(directory)
    sinks.append(sink)
    for i in range(200):
        sink.put(record(i, text="naïve \u2028 line\nbreak"))
    assert sink.flush()
    (path,) = directory.iterdir()
    match = NAME.match(path.name)
    assert match is not None, path.name
    assert match["pid"] == str(os.getpid()) and match["part"] is None
    assert match["host"] == socket.gethostname().replace(os.sep, "_")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 201  # newline-terminated, one line per record
    records = [json.loads(line) for line in lines[:-1]]
    assert [r["n"] for r in records] == list(range(200))
    assert records[7]["text"] == "naïve \u2028 line\nbreak"
    assert sink.written == 200 and sink.lost_queue == sink.lost_write == 0


def test_rotates_past_max_bytes_and_loses_nothing(tmp_path: Path, sinks: list[Sink]) -> None:
    sink = file_sink(tmp_path, max_bytes=4096)
    sinks.append(sink)
    for i in range(300):
        sink.put(record(i, pad="x" * 100))
        if i % 25 == 0:
            assert sink.flush()  # several batches, so several files
    assert sink.flush()
    names = sorted(p.name for p in tmp_path.iterdir())
    matches = [NAME.match(n) for n in names]
    assert all(matches) and len(names) >= 3
    parts = sorted(int(m["part"] or 0) for m in matches if m)
    assert parts == list(range(len(names)))
    assert len({(m["pid"], m["start"]) for m in matches if m}) == 1  # one process, one series
    assert sorted(r["n"] for r in read_lines(tmp_path)) == list(range(300))
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_max_file_mb_setting_reaches_the_file_output(tmp_path: Path) -> None:
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path), "MAX_FILE_MB": 3, "QUEUE_SIZE": 7}):
        reset_sink()
        try:
            sink = get_sink()
            assert sink.queue_size == 7
            sink.put(record(1))
            assert sink.flush()
            assert isinstance(sink.output, FileOutput)
            assert sink.output.max_bytes == 3 * 1024 * 1024
            assert sink.output.directory == tmp_path
        finally:
            reset_sink()


def test_changed_output_settings_make_a_new_sink_without_waiting(tmp_path: Path) -> None:
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path / "a")}):
        first = get_sink()
        first.put(record(1))
        with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path / "b")}):
            second = get_sink()
            assert second is not first
            second.put(record(2))
            assert second.flush()
            assert [r["n"] for r in read_lines(tmp_path / "b")] == [2]
        reset_sink()
    assert first.thread is not None
    first.thread.join(5)
    assert [r["n"] for r in read_lines(tmp_path / "a")] == [1]
    reset_sink()


def test_unrelated_setting_change_keeps_the_sink(tmp_path: Path) -> None:
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path)}):
        sink = get_sink()
        with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path), "SAMPLE_RATE": 0.5}):
            assert get_config().sample_rate == 0.5
            assert get_sink() is sink
        reset_sink()


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, rec: logging.LogRecord) -> None:
        self.messages.append(rec.getMessage())


def test_log_sink_writes_the_same_lines_with_the_marker(tmp_path: Path, sinks: list[Sink]) -> None:
    logger = logging.getLogger("async_audit.records")
    handler = ListHandler()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        log_sink = Sink(LogOutput, 1000)
        file = file_sink(tmp_path)
        sinks.extend([log_sink, file])
        for i in range(20):
            log_sink.put(record(i, text="é"))
            file.put(record(i, text="é"))
        assert log_sink.flush() and file.flush()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    (path,) = tmp_path.iterdir()
    file_lines = path.read_text(encoding="utf-8").splitlines()
    assert handler.messages == [LOG_PREFIX + line for line in file_lines]
    assert LOG_PREFIX.strip() == "async-audit"


def test_log_output_configures_an_unconfigured_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("async_audit.records")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", False)  # nothing above it either
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    LogOutput()
    assert logger.handlers and logger.level == logging.INFO


def test_log_sink_setting(tmp_path: Path) -> None:
    with override_settings(ASYNC_AUDIT={"SINK": "log", "OUTPUT_DIR": str(tmp_path)}):
        reset_sink()
        try:
            assert get_sink().make_output is LogOutput
        finally:
            reset_sink()


def test_put_never_waits_for_a_stalled_writer_and_a_full_queue_drops_and_counts(sinks: list[Sink]) -> None:
    output = GatedOutput()
    sink = Sink(lambda: output, queue_size=10)
    sinks.append(sink)
    sink.put(record(0))
    assert output.entered.wait(5)  # the writer holds record 0 and hangs on the disk

    # If ``put`` waited on the writer this thread would never finish; it is a deadlock detector, not a timer.
    def produce() -> None:
        for i in range(1, 1000):
            sink.put(record(i))

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(30)
    assert not producer.is_alive(), "put blocked behind a stalled writer"
    assert sink.lost_queue == 1000 - 1 - 10
    output.release.set()
    assert sink.flush()
    written = [json.loads(line) for line in output.lines]
    assert [r["n"] for r in written] == list(range(11))
    # The first record written after the drops reports them; later ones start counting again from zero.
    assert written[1]["lost"] == {"queue": 989, "write": 0}
    assert all(r["lost"] == {"queue": 0, "write": 0} for r in written[2:])
    sink.put(record(2000))
    assert sink.flush()
    assert json.loads(output.lines[-1])["lost"] == {"queue": 0, "write": 0}


def test_enospc_losses_are_counted_and_reported_at_the_next_successful_write(sinks: list[Sink]) -> None:
    output = FailingOutput(failures=2)
    sink = Sink(lambda: output, queue_size=1000)
    sinks.append(sink)
    sink.count_unsampled()
    for i in range(3):
        sink.put(record(i))
        assert sink.flush()  # one batch per record: two fail, the third gets through
    assert sink.failures == 2 and output.closed == 2
    (line,) = output.lines
    written = json.loads(line)
    assert written["n"] == 2
    assert written["lost"] == {"queue": 0, "write": 2}
    assert written["unsampled"] == 1  # kept through the failures, reported once
    assert sink.lost_write == 0


def test_unwritable_directory_even_for_root_then_recovers(tmp_path: Path, sinks: list[Sink]) -> None:
    # A path below a regular file fails with ENOTDIR whoever we are; chmod would not stop root.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    directory = blocker / "records"
    sink = file_sink(directory)
    sinks.append(sink)
    for i in range(5):
        sink.put(record(i))
    assert sink.flush()
    assert sink.lost_write == 5 and sink.written == 0
    blocker.unlink()
    sink.put(record(5))
    assert sink.flush()
    (written,) = read_lines(directory)
    assert written["n"] == 5 and written["lost"] == {"queue": 0, "write": 5}
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_deleted_directory_is_recreated_and_writing_resumes(tmp_path: Path, sinks: list[Sink]) -> None:
    directory = tmp_path / "records"
    sink = file_sink(directory)
    sinks.append(sink)
    for i in range(10):
        sink.put(record(i))
    assert sink.flush()
    assert isinstance(sink.output, FileOutput) and sink.output.path is not None
    name = sink.output.path.name
    shutil.rmtree(directory)
    for i in range(10, 30):
        sink.put(record(i))
    assert sink.flush()
    assert [p.name for p in directory.iterdir()] == [name]
    assert [r["n"] for r in read_lines(directory)] == list(range(10, 30))
    assert sink.lost_write == sink.lost_queue == 0
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def _fail_half_way(monkeypatch: pytest.MonkeyPatch, output: FileOutput) -> None:
    real_write = os.write
    state = {"armed": True}

    def write(fd: int, data: Any) -> int:
        if fd == output.fd and state["armed"]:
            state["armed"] = False
            real_write(fd, bytes(data[: len(data) // 2]))
            return len(data) // 2
        if fd == output.fd and not state["armed"] and state.get("raised") is None:
            state["raised"] = True
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(sink_module.os, "write", write)


def test_a_half_written_batch_is_cut_off_so_the_count_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = FileOutput(tmp_path, 1 << 30)
    output.write([json.dumps(record(0)) + "\n"])
    _fail_half_way(monkeypatch, output)
    with pytest.raises(OSError):
        output.write([json.dumps(record(i)) + "\n" for i in range(1, 4)])
    monkeypatch.undo()
    output.write([json.dumps(record(4)) + "\n"])
    output.close()
    assert [r["n"] for r in read_lines(tmp_path)] == [0, 4]


def test_a_torn_line_that_cannot_be_cut_off_does_not_swallow_the_next_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = FileOutput(tmp_path, 1 << 30)
    output.write([json.dumps(record(0)) + "\n"])
    _fail_half_way(monkeypatch, output)

    def no_truncate(fd: int, size: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(sink_module.os, "ftruncate", no_truncate)
    with pytest.raises(OSError):
        output.write([json.dumps(record(i)) + "\n" for i in range(1, 4)])
    monkeypatch.undo()
    output.close()  # and a new output object, as after a restart of the writer, finds the torn end itself
    again = FileOutput(tmp_path, 1 << 30)
    again.start = output.start
    again.write([json.dumps(record(4)) + "\n", json.dumps(record(5)) + "\n"])
    again.close()
    (path,) = tmp_path.iterdir()
    lines = path.read_text(encoding="utf-8").splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line)["n"])
        except ValueError:
            parsed.append("torn")
    # Half of the failed batch is record 1 whole and record 2 torn; records 4 and 5 come through whole.
    assert parsed == [0, 1, "torn", 4, 5]


def test_many_threads_every_record_exactly_once(tmp_path: Path, sinks: list[Sink]) -> None:
    sink = file_sink(tmp_path)
    sinks.append(sink)
    threads_n, per_thread = 16, 500

    def produce(t: int) -> None:
        for i in range(per_thread):
            sink.put(record(t * per_thread + i, thread=t, pad="y" * (i % 50)))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sink.flush(30)
    ns = [r["n"] for r in read_lines(tmp_path)]
    assert len(ns) == threads_n * per_thread
    assert sorted(ns) == list(range(threads_n * per_thread))
    assert sink.lost_queue == sink.lost_write == 0


def test_close_counts_what_a_hung_writer_still_holds(
    sinks: list[Sink], caplog: pytest.LogCaptureFixture
) -> None:
    output = GatedOutput()
    sink = Sink(lambda: output, queue_size=100)
    for i in range(3):
        sink.put(record(i))
    assert output.entered.wait(5)
    with caplog.at_level(logging.WARNING, logger="async_audit"):
        sink.close(timeout=0.05)
    assert sink.lost_write == 3
    assert "lost 3 record(s)" in caplog.text
    output.release.set()
    assert sink.thread is not None
    sink.thread.join(5)


def test_a_bug_in_the_writer_loses_its_batch_counted_and_the_writer_carries_on(
    sinks: list[Sink], monkeypatch: pytest.MonkeyPatch, internal_errors: Any
) -> None:
    output = FailingOutput(failures=0)
    sink = Sink(lambda: output, queue_size=1000)
    sinks.append(sink)
    real_write = Sink._write
    calls = {"n": 0}

    def buggy_write(self: Sink, lines: list[str], counts: tuple[int, int, int]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyError("a bug in the writer")
        real_write(self, lines, counts)

    monkeypatch.setattr(Sink, "_write", buggy_write)
    internal_errors.expected = True
    for i in range(3):
        sink.put(record(i))
    assert sink.flush()  # the marker is released even though the batch before it failed
    sink.put(record(3))
    assert sink.flush()
    (line,) = output.lines
    assert json.loads(line)["n"] == 3 and json.loads(line)["lost"] == {"queue": 0, "write": 3}
    assert [type(e) for e in internal_errors] == [KeyError]
    assert sink.thread is not None and sink.thread.is_alive()


def _encode_test_record(packed: tuple[Any, ...], counts: tuple[int, int, int]) -> str:
    _, n, broken = packed
    if broken:
        raise RuntimeError("recorder bug while encoding a packed record")
    line = record(n)
    line["lost"] = {"queue": counts[0], "write": counts[1]}
    line["unsampled"] = counts[2]
    return json.dumps(line)


register_encoder("test-record", _encode_test_record)


def test_packed_records_are_written_by_their_encoder_and_a_failed_one_is_a_counted_loss(
    tmp_path: Path, sinks: list[Sink], internal_errors: Any
) -> None:
    sink = file_sink(tmp_path)
    sinks.append(sink)
    for i in range(4):
        sink.put(("test-record", i, i == 1))
    assert sink.flush()
    lines = read_lines(tmp_path)
    assert [r["n"] for r in lines] == [0, 2, 3]
    # The first record of the batch carries the losses counted before it was written; the failed build came
    # after it, so the next batch's first record says so.
    sink.put(("test-record", 4, False))
    assert sink.flush()
    assert [r["lost"]["write"] for r in read_lines(tmp_path)] == [0, 0, 0, 1]
    assert [type(e) for e in internal_errors] == [RuntimeError]
    internal_errors.expected = True


def test_a_packed_record_waits_in_the_buffer_untracked_by_the_cycle_collector() -> None:
    # A request's trace waits up to the writer's interval. As objects (the trace, its list of calls, each call
    # and its frames) it would be promoted, request after request, to the oldest generation, whose growth
    # sets off full collections of the site's heap. Tuples of plain values are let go by the collector, one
    # level of nesting per pass: by the time a record would be promoted to the oldest generation (a pass of
    # the youngest, then one of the middle), only its outer tuple is left to be.
    trace = Trace(None, 100, 100.0, "wsgi")
    token = current_trace.set(trace)
    try:
        call = begin_call("http", "test", method="GET", host="api.example.com", port=443, path="/x")
        assert call is not None
        call.finish(status=200)
    finally:
        current_trace.reset(token)
    trace.close(time.perf_counter_ns())
    trace.host, trace.pid, trace.method, trace.route, trace.view, trace.status = "h", 1, "GET", "x/", "v", 200
    trace.cpu_end_ns = None
    packed = trace.packed()
    gc.collect(0)
    gc.collect(1)
    (call_figures,) = packed[17:]
    assert not gc.is_tracked(call_figures)
    built = build_record(packed)
    (built_call,) = built["calls"]
    assert (built_call["host"], built_call["status"], built_call["site"]["file"]) == (
        "api.example.com",
        200,
        "record/test_sink.py",
    )


def test_a_failed_build_first_in_its_batch_does_not_count_the_last_batchs_losses_again(
    tmp_path: Path, sinks: list[Sink], internal_errors: Any
) -> None:
    sink = file_sink(tmp_path)
    sinks.append(sink)
    sink.count_lost()
    sink.count_lost()
    done = threading.Event()
    # One drain, run here: a batch ends at the flush marker, and the next batch's first record fails to build.
    sink.buffer.extend([("test-record", 0, False), done, ("test-record", 1, True), ("test-record", 2, False)])
    internal_errors.expected = True
    sink._drain()
    assert done.is_set()
    assert [(r["n"], r["lost"]["write"]) for r in read_lines(tmp_path)] == [(0, 2), (2, 1)]


def test_a_lone_surrogate_in_a_record_is_written_as_its_json_escape_and_the_batch_survives(
    tmp_path: Path, sinks: list[Sink]
) -> None:
    # A path decoded with surrogateescape, say: UTF-8 cannot hold it, and it used to fail the whole batch.
    sink = file_sink(tmp_path)
    sinks.append(sink)
    sink.put(record(0))
    sink.put(record(1, path="/caf\udce9/"))
    sink.put(record(2))
    assert sink.flush()
    written = [(r["n"], r.get("path")) for r in read_lines(tmp_path)]
    assert written == [(0, None), (1, "/caf\udce9/"), (2, None)]
    assert sink.lost_write == 0
