"""Disk faults while many threads are serving requests: the answers stay the same, every request is either a
record or counted as lost, the counts reach the next record written and the report, and the loader reads
every file whole.

``test_faults.py`` and ``test_sink.py`` inject each fault once, in one thread; here the faults start and end
while eight threads are in the middle of their requests. The long version, under gunicorn and uvicorn with a
real full disk and a worker killed by SIGKILL, is ``python -m benchmarks.load --faults``.
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from async_audit.analyze import AnalysisOptions, build_report
from async_audit.record.sink import FileOutput, get_sink, reset_sink

THREADS = 8
PER_THREAD = 30
PATHS = ["/hello/", "/nowhere/", "/tracked/"]


def hammer(during: Callable[[], None]) -> Counter[tuple[str, int, bytes]]:
    """THREADS threads make PER_THREAD requests each; ``during`` runs once they are all under way."""
    answers: Counter[tuple[str, int, bytes]] = Counter()
    lock = threading.Lock()
    started = threading.Barrier(THREADS + 1)
    halfway = threading.Semaphore(0)

    def serve() -> None:
        client = Client()
        started.wait()
        for n in range(PER_THREAD):
            path = PATHS[n % len(PATHS)]
            response = client.get(path)
            with lock:
                answers[(path, response.status_code, response.content)] += 1
            if n == PER_THREAD // 3:
                halfway.release()

    threads = [threading.Thread(target=serve) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    started.wait()
    for _ in range(THREADS):
        halfway.acquire()
    during()
    for thread in threads:
        thread.join(60)
    return answers


def read_all(directory: Path) -> tuple[list[dict[str, Any]], int]:
    """Every record in the directory's files, and the number of lines that do not parse."""
    records, torn = [], 0
    for path in sorted(directory.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                torn += 1
    return records, torn


def lost(records: list[dict[str, Any]]) -> int:
    return sum(r["lost"]["queue"] + r["lost"]["write"] for r in records)


@pytest.fixture
def audit_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "audit"
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(directory), "PROJECT_ROOTS": ["tests"]}):
        reset_sink()
        yield directory
        reset_sink()


def finish(directory: Path) -> None:
    """One request after the fault, so the counts ride on a record that gets out; then flush."""
    assert Client().get("/hello/").status_code == 200
    assert get_sink().flush()


def assert_answers_unchanged(answers: Counter[tuple[str, int, bytes]]) -> None:
    assert sum(answers.values()) == THREADS * PER_THREAD
    assert {path for path, _, _ in answers} == set(PATHS)
    assert len(answers) == len(PATHS), "a path was answered in two different ways"
    statuses = {path: status for path, status, _ in answers}
    assert statuses == {"/hello/": 200, "/nowhere/": 404, "/tracked/": 200}


def assert_accounted(directory: Path, requests: int) -> int:
    records, torn = read_all(directory)
    assert torn == 0
    counted = lost(records)
    assert len(records) + counted == requests
    report = build_report([directory], AnalysisOptions())
    assert report.sources.records == len(records)
    assert report.sources.records_lost == counted
    return counted


def test_disk_full_mid_run_under_eight_threads(audit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = FileOutput.write
    full = threading.Event()

    def write(self: FileOutput, lines: list[str]) -> None:
        if full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, lines)

    monkeypatch.setattr(FileOutput, "write", write)

    def fill_then_free() -> None:
        full.set()
        assert get_sink().flush()  # the writer meets the full disk at least once
        threading.Event().wait(0.2)
        full.clear()

    answers = hammer(fill_then_free)
    finish(audit_dir)
    assert_answers_unchanged(answers)
    assert assert_accounted(audit_dir, THREADS * PER_THREAD + 1) > 0


def test_records_directory_deleted_mid_run_under_eight_threads(audit_dir: Path) -> None:
    assert Client().get("/hello/").status_code == 200
    assert get_sink().flush() and audit_dir.is_dir()
    answers = hammer(lambda: shutil.rmtree(audit_dir))
    finish(audit_dir)
    assert_answers_unchanged(answers)
    records, torn = read_all(audit_dir)
    # What was in the deleted files is gone with them; everything after is there, whole, in a new file.
    assert records and torn == 0
    assert len(records) + lost(records) <= THREADS * PER_THREAD + 1
    assert records[-1]["route"] == "hello/"


def _chattr(flag: str, *paths: Path) -> bool:
    try:
        return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True).returncode == 0
    except OSError:
        return False


def test_records_directory_read_only_mid_run_under_eight_threads(audit_dir: Path) -> None:
    assert Client().get("/hello/").status_code == 200
    assert get_sink().flush()
    files = sorted(audit_dir.glob("*.jsonl"))
    if not _chattr("+i", audit_dir, *files):
        pytest.skip("chattr +i (read-only even for root) is not available here")

    def read_only_for_a_while() -> None:
        try:
            assert get_sink().flush()
            threading.Event().wait(0.2)
        finally:
            _chattr("-i", audit_dir, *files)

    try:
        answers = hammer(read_only_for_a_while)
    finally:
        _chattr("-i", audit_dir, *files)
    finish(audit_dir)
    assert_answers_unchanged(answers)
    assert assert_accounted(audit_dir, THREADS * PER_THREAD + 2) > 0


def test_saturated_queue_under_eight_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = FileOutput.write

    def slow_disk(self: FileOutput, lines: list[str]) -> None:
        threading.Event().wait(0.02)
        real_write(self, lines)

    monkeypatch.setattr(FileOutput, "write", slow_disk)
    directory = tmp_path / "audit"
    settings = {"OUTPUT_DIR": str(directory), "PROJECT_ROOTS": ["tests"], "QUEUE_SIZE": 2}
    with override_settings(ASYNC_AUDIT=settings):
        reset_sink()
        try:
            answers = hammer(lambda: None)
            finish(directory)
            assert_answers_unchanged(answers)
            records, _ = read_all(directory)
            assert sum(r["lost"]["queue"] for r in records) > 0
            assert assert_accounted(directory, THREADS * PER_THREAD + 1) > 0
        finally:
            reset_sink()
