"""The rq hook: enqueues to a fakeredis-backed queue, asynchronous and ``is_async=False``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from async_audit.testing import capture_records
from tests.record.hooks.conftest_mail import LOCMEM, assert_no_address, use_mailer
from tests.site.mail_task_views import STATE, notify

rq = pytest.importorskip("rq")
fakeredis = pytest.importorskip("fakeredis")


@pytest.fixture(autouse=True)
def locmem() -> Iterator[None]:
    mail.outbox = []
    with use_mailer(LOCMEM):
        yield


def _queue(is_async: bool, name: str = "mail") -> Any:
    return rq.Queue(name, connection=fakeredis.FakeStrictRedis(), is_async=is_async)


def test_async_queue_enqueue_is_one_call(client: Client) -> None:
    queue = STATE["rq_queue"] = _queue(is_async=True)
    with capture_records() as records:
        client.get("/mail-tasks/rq/")
    (record,) = records
    (call,) = record["calls"]
    assert (call["kind"], call["lib"], call["backend"]) == ("task", "rq", "rq")
    assert (call["task"], call["queue"], call["inline"], call["error"]) == (
        "tests.site.mail_task_views.notify",
        "mail",
        False,
        None,
    )
    assert call["site"]["function"] == "rq_view"
    assert queue.count == 1 and mail.outbox == []


def test_sync_queue_runs_the_job_inline_with_its_work_nested(client: Client) -> None:
    STATE["rq_queue"] = _queue(is_async=False)
    with capture_records() as records:
        client.get("/mail-tasks/rq/")
    (record,) = records
    task, email = record["calls"]
    assert (task["kind"], task["inline"], task["parent"]) == ("task", True, None)
    assert (email["kind"], email["parent"]) == ("email", 0)
    assert len(mail.outbox) == 1
    assert_no_address(record)


def test_enqueue_many_and_scheduled_jobs(client: Client) -> None:
    from datetime import timedelta

    queue = _queue(is_async=True, name="bulk")

    def work() -> int:
        jobs = queue.enqueue_many([rq.Queue.prepare_data(notify, (n,)) for n in range(3)])
        queue.enqueue_in(timedelta(minutes=5), notify, 9)
        return len(jobs)

    STATE["run"] = work
    with capture_records() as records:
        assert client.get("/mail-tasks/run/").content == b"3"
    batch, scheduled = records[0]["calls"]
    assert (batch["task"], batch["queue"], batch["inline"]) == (
        "tests.site.mail_task_views.notify",
        "bulk",
        False,
    )
    assert (scheduled["task"], scheduled["inline"]) == ("tests.site.mail_task_views.notify", False)
    assert queue.count == 3


def test_outside_a_request_nothing_is_recorded() -> None:
    with capture_records() as records:
        _queue(is_async=False).enqueue(notify, 1)
    assert records == [] and len(mail.outbox) == 1
