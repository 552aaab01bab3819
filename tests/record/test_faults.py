"""Faults injected into the recorder: the site answers byte for byte as it does without it, and every loss is
counted.

Each view of the test site is requested three ways: with no recorder at all (middleware out, hooks
uninstalled), with the recorder, and with the recorder's own internals raising at every step. Status,
headers and body must be identical.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from async_audit.record import frames, trace
from async_audit.record import sink as sink_module
from async_audit.record.guard import swallowed_count
from async_audit.record.hooks import install_hooks, installed_hooks, uninstall_hooks
from async_audit.record.sink import FileOutput, get_sink, reset_sink
from tests.conftest import InternalErrors
from tests.record.hooks.conftest_mail import use_mailer

MIDDLEWARE_PATH = "async_audit.middleware.AuditMiddleware"


@pytest.fixture
def output_dir(tmp_path: Path) -> Iterator[Path]:
    with override_settings(
        ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path), "PROJECT_ROOTS": ["tests"], "SLOW_SQL_MS": 0}
    ):
        reset_sink()
        yield tmp_path
        reset_sink()


def requests_to_make(port: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("get", "/hello/?a=1", {}),
        ("get", "/tracked/", {}),
        ("get", "/atomic/", {}),
        ("get", "/slow-sql/", {}),
        ("get", "/async/", {}),
        ("get", "/boom/", {}),
        ("get", "/nowhere/", {}),
        ("get", "/mail-tasks/send-mail/", {}),
        ("get", f"/http/requests/?port={port}", {}),
        (
            "post",
            f"/privacy/accounts/a@example.com/reset/tok_abcdef123456/?port={port}",
            {"data": "body", "content_type": "text/plain"},
        ),
    ]


def responses(port: int) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    client = Client(raise_request_exception=False)
    out = []
    for method, path, kwargs in requests_to_make(port):
        response = getattr(client, method)(path, **kwargs)
        out.append((response.status_code, sorted(response.items()), response.content))
    return out


def read_records(directory: Path) -> list[dict[str, Any]]:
    assert get_sink().flush()
    return [json.loads(line) for path in directory.glob("*.jsonl") for line in path.read_text().splitlines()]


def break_every_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected recorder fault")

    monkeypatch.setattr(trace, "call_site_at", boom)  # every hook's begin_call / add_finished_call
    monkeypatch.setattr(trace, "in_atomic_block", boom)
    monkeypatch.setattr(trace.Trace, "close", boom)  # finish_trace: the record is lost, and counted
    monkeypatch.setattr(frames, "call_site", boom)


@pytest.mark.django_db(transaction=True)
def test_responses_are_byte_identical_without_with_and_with_a_broken_recorder(
    output_dir: Path, api_port: int, monkeypatch: pytest.MonkeyPatch, internal_errors: InternalErrors
) -> None:
    hooks = installed_hooks()
    assert "sql" in hooks
    with use_mailer("django.core.mail.backends.locmem.EmailBackend"):
        with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]):
            uninstall_hooks()
            try:
                without = responses(api_port)
            finally:
                install_hooks(hooks)
        assert installed_hooks() == hooks
        recorded = responses(api_port)
        records = read_records(output_dir)
        assert len(records) == len(requests_to_make(api_port))
        assert sum(len(r["calls"]) for r in records) > 5  # the recorder really recorded something

        before = swallowed_count()
        break_every_internal(monkeypatch)
        broken = responses(api_port)
        monkeypatch.undo()
    assert recorded == without
    assert broken == without
    assert [status for status, _, _ in without][:7] == [200, 200, 200, 200, 200, 500, 404]
    assert internal_errors and all(str(e) == "injected recorder fault" for e in internal_errors)
    assert swallowed_count() - before == len(internal_errors)
    internal_errors.expected = True
    # The records the broken recorder could not build are counted, in the next record that gets out.
    assert get_sink().lost_write == len(requests_to_make(api_port))
    Client().get("/hello/")
    last = read_records(output_dir)[-1]
    assert last["lost"] == {"queue": 0, "write": len(requests_to_make(api_port))}


def test_a_sink_that_raises_loses_the_record_but_counts_it(
    output_dir: Path, monkeypatch: pytest.MonkeyPatch, internal_errors: InternalErrors
) -> None:
    sink = get_sink()

    def broken_put(record: dict[str, Any]) -> None:
        raise RuntimeError("injected sink fault")

    monkeypatch.setattr(sink, "put", broken_put)
    assert Client().get("/hello/").content == b"hello"
    monkeypatch.undo()
    internal_errors.expected = True
    assert len(internal_errors) == 1
    Client().get("/hello/")
    (record,) = read_records(output_dir)
    assert record["lost"] == {"queue": 0, "write": 1}


def test_an_unwritable_output_directory_costs_records_not_responses(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a regular file: nothing can be created below it, not even by root")
    directory = blocker / "records"
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(directory)}):
        reset_sink()
        try:
            client = Client()
            for _ in range(5):
                response = client.get("/hello/")
                assert (response.status_code, response.content) == (200, b"hello")
            assert get_sink().flush()
            assert get_sink().lost_write == 5
            blocker.unlink()  # the operator fixes the disk
            client.get("/hello/")
            records = read_records(directory)
        finally:
            reset_sink()
    assert len(records) == 1 and records[0]["lost"] == {"queue": 0, "write": 5}


def test_a_full_queue_behind_a_hung_disk_drops_and_counts(
    output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_write = FileOutput.write

    def hung_write(self: FileOutput, lines: list[str]) -> None:
        entered.set()
        release.wait(10)
        real_write(self, lines)

    monkeypatch.setattr(FileOutput, "write", hung_write)
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(output_dir), "QUEUE_SIZE": 3}):
        reset_sink()
        try:
            client = Client()
            client.get("/hello/")
            get_sink().flush(0)  # wake the writer: it takes that record and hangs on the disk
            assert entered.wait(5)
            for _ in range(10):
                assert client.get("/hello/").content == b"hello"
            assert get_sink().lost_queue == 7
            release.set()
            records = read_records(output_dir)
        finally:
            release.set()
            reset_sink()
    assert len(records) == 4
    assert sum(r["lost"]["queue"] for r in records) == 7
    assert sink_module.get_sink().lost_queue == 0
