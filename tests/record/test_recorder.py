"""Starting and finishing traces, sampling counts, and the recorder across processes.

The multi-process tests run real interpreters (``subprocess``): a parent that forks like gunicorn
``--preload``, workers that exit normally (records flushed at exit), several processes writing to one
directory at once, and a worker killed with SIGKILL in the middle of writing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from async_audit.record import recorder
from async_audit.record import sink as sink_module
from async_audit.record.sink import Output, Sink
from async_audit.testing import capture_records

ROOT = Path(__file__).resolve().parents[2]


class ListOutput(Output):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, lines: list[str]) -> None:
        self.lines.extend(lines)


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> Iterator[ListOutput]:
    """Route the process's sink to memory for the duration of a test."""
    out = ListOutput()
    sink = Sink(lambda: out, 1000)
    # Settings changed inside a test must not swap this sink for one writing files.
    monkeypatch.setattr(sink_module, "_sink_key", lambda config: ("memory",))
    sink.key = ("memory",)
    monkeypatch.setattr(sink_module, "_sink", sink)
    yield out
    sink.close()


def written(out: ListOutput) -> list[dict[str, Any]]:
    sink = sink_module.get_sink()
    assert sink.flush()
    return [json.loads(line) for line in out.lines]


def test_a_request_goes_to_the_sink(output: ListOutput) -> None:
    response = Client().get("/hello/")
    assert response.status_code == 200
    (record,) = written(output)
    assert record["route"] == "hello/" and record["pid"] == os.getpid()
    assert record["lost"] == {"queue": 0, "write": 0} and record["unsampled"] == 0


def test_captures_take_records_instead_of_the_sink(output: ListOutput) -> None:
    with capture_records() as records:
        Client().get("/hello/")
    assert len(records) == 1
    assert written(output) == []


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"ENABLED": False}, "/hello/"),
        ({"IGNORE_PATHS": ["/hel"]}, "/hello/"),
        ({"IGNORE_PATHS": [r"^/h\w+o/$"]}, "/hello/"),
    ],
)
def test_disabled_and_ignored_requests_record_nothing(
    output: ListOutput, config: dict[str, Any], path: str
) -> None:
    with override_settings(ASYNC_AUDIT=config):
        assert recorder.start_trace("GET", path, "wsgi") == (None, False)
        Client().get(path)
    assert written(output) == []
    assert sink_module.get_sink().unsampled == 0  # left out on purpose, not sampled out


def test_sampled_out_requests_are_counted_in_the_next_record(output: ListOutput) -> None:
    with override_settings(ASYNC_AUDIT={"SAMPLE_RATE": 0.0, "ALWAYS_RECORD_SLOWER_THAN_MS": None}):
        for _ in range(4):
            Client().get("/hello/")
    assert written(output) == []
    Client().get("/hello/")
    (record,) = written(output)
    assert record["unsampled"] == 4


def test_slow_requests_are_recorded_even_when_sampled_out(output: ListOutput) -> None:
    with override_settings(ASYNC_AUDIT={"SAMPLE_RATE": 0.0, "ALWAYS_RECORD_SLOWER_THAN_MS": 0}):
        Client().get("/hello/")
    with override_settings(ASYNC_AUDIT={"SAMPLE_RATE": 0.0, "ALWAYS_RECORD_SLOWER_THAN_MS": 60_000}):
        Client().get("/hello/")
    Client().get("/hello/")
    records = written(output)
    assert len(records) == 2  # the first, slower than 0 ms, and the last, sampled in
    # The fast one was sampled out and is counted, in whichever record the writer wrote next.
    assert sum(r["unsampled"] for r in records) == 1


def test_cpu_time_only_under_wsgi() -> None:
    with capture_records() as records:
        Client().get("/hello/")
    assert isinstance(records[0]["cpu_ms"], float)
    trace, sampled = recorder.start_trace("GET", "/hello/", "asgi")
    assert trace is not None and sampled and trace.cpu_start_ns is None


# -- several processes -------------------------------------------------------------------------------------

PRELUDE = """
import json, os, sys, threading, time
import django
from django.conf import settings
settings.ASYNC_AUDIT = {"OUTPUT_DIR": sys.argv[1], "PROJECT_ROOTS": ["tests"], "QUEUE_SIZE": 100000}
django.setup()
from async_audit.record import sink
from async_audit.record.recorder import emit

def record(tag, i, pad=""):
    return {"v": 1, "id": "%016x" % i, "tag": tag, "n": i, "pid": os.getpid(), "pad": pad,
            "unsampled": 0, "lost": {"queue": 0, "write": 0}, "calls": []}
"""


def start_script(body: str, out_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), str(out_dir), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_script(body: str, out_dir: Path, *args: str) -> str:
    """Run a script to its end; its standard output."""
    proc = start_script(body, out_dir, *args)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    return stdout


def read_dir(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Records per file; every line must be whole."""
    out = {}
    for path in sorted(directory.glob("*.jsonl")):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n"), path
        out[path.name] = [json.loads(line) for line in text.splitlines()]
    return out


def test_a_worker_that_exits_normally_has_written_every_request(tmp_path: Path) -> None:
    run_script(
        """
        from django.test import Client
        client = Client()
        for _ in range(300):
            assert client.get("/hello/").status_code == 200
        # no flush: the exit handler must write what is still buffered
        """,
        tmp_path,
    )
    (records,) = read_dir(tmp_path).values()
    assert len(records) == 300
    assert {r["route"] for r in records} == {"hello/"}
    assert len({r["id"] for r in records}) == 300
    assert sum(r["lost"]["queue"] + r["lost"]["write"] for r in records) == 0


def test_a_forked_child_writes_its_own_file_and_none_of_the_parents_records(tmp_path: Path) -> None:
    stdout = run_script(
        """
        parent = os.getpid()
        gate = threading.Event()
        real_write = sink.FileOutput.write

        def gated_write(self, lines):
            if os.getpid() == parent:
                gate.wait(30)  # the parent's writer holds its records until after the fork
            real_write(self, lines)

        sink.FileOutput.write = gated_write
        for i in range(50):
            emit(record("parent", i))
        s = sink.get_sink()
        s.flush(0.3)  # the writer has taken a batch and is stuck in write; the rest stays buffered
        for i in range(50, 80):
            emit(record("parent", i))
        child = os.fork()
        if child == 0:
            from django.test import Client
            client = Client()
            for i in range(20):
                emit(record("child", i))
            for _ in range(5):
                client.get("/hello/")
            sys.exit(0)  # like a gunicorn worker: exit handlers run, the child's records are flushed
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        gate.set()
        print(child)
        """,
        tmp_path,
    )
    child_pid = int(stdout.strip())
    files = read_dir(tmp_path)
    assert len(files) == 2
    by_pid = {records[0]["pid"]: records for records in files.values()}
    parent_pid = next(pid for pid in by_pid if pid != child_pid)
    parent, child = by_pid[parent_pid], by_pid[child_pid]
    assert [r["n"] for r in parent if r.get("tag") == "parent"] == list(range(80))
    assert all(r.get("tag") == "parent" for r in parent)
    assert sorted(r["n"] for r in child if r.get("tag") == "child") == list(range(20))
    requests = [r for r in child if r.get("route") == "hello/"]
    assert len(requests) == 5 and all(r["pid"] == child_pid for r in requests)
    assert not any(r.get("tag") == "parent" for r in child)
    for name, records in files.items():
        assert f"-{records[0]['pid']}-" in name


def test_several_processes_and_threads_at_once_every_record_exactly_once(tmp_path: Path) -> None:
    body = """
    tag = sys.argv[2]
    def produce(t):
        for i in range(500):
            emit(record(tag, t * 500 + i, pad="z" * (i % 300)))
    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
    procs = [start_script(body, tmp_path, f"p{n}") for n in range(4)]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    files = read_dir(tmp_path)
    assert len(files) == 4
    seen: dict[str, list[int]] = {}
    for records in files.values():
        assert len({r["pid"] for r in records}) == 1  # one process per file
        for r in records:
            seen.setdefault(r["tag"], []).append(r["n"])
    assert sorted(seen) == ["p0", "p1", "p2", "p3"]
    for ns in seen.values():
        assert sorted(ns) == list(range(2000))


def test_a_worker_killed_mid_write_leaves_only_whole_lines_but_the_last(tmp_path: Path) -> None:
    proc = start_script(
        """
        i = 0
        while True:
            emit(record("killed", i, pad="k" * 5000))
            i += 1
            if i % 50 == 0:
                time.sleep(0.005)
        """,
        tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            files = list(tmp_path.glob("*.jsonl"))
            if files and files[0].stat().st_size > 2_000_000:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    (path,) = tmp_path.glob("*.jsonl")
    lines = path.read_text(encoding="utf-8").split("\n")
    whole, last = lines[:-1], lines[-1]  # ``last`` is "" when the kill fell between two writes
    records = [json.loads(line) for line in whole]
    assert len(records) > 100
    assert [r["n"] for r in records] == list(range(len(records)))
    if last:
        with pytest.raises(ValueError):
            json.loads(last)
