"""The celery hook: ``apply_async`` (and ``delay``), eager and through a real in-memory broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from async_audit.testing import capture_records
from tests.record.hooks.conftest_mail import LOCMEM, assert_no_address, use_mailer

pytest.importorskip("celery")

from tests.site import mail_task_views as views  # noqa: E402 - after the skip: it defines the Celery app


@pytest.fixture(autouse=True)
def locmem() -> Iterator[None]:
    mail.outbox = []
    with use_mailer(LOCMEM):
        yield


@pytest.fixture
def eager() -> Iterator[None]:
    views.celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        views.celery_app.conf.task_always_eager = False


def _summary(calls: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["kind"], c["parent"], c.get("task"), c.get("queue"), c.get("inline")) for c in calls]


def test_eager_tasks_run_inline_with_their_work_nested(client: Client, eager: None) -> None:
    with capture_records() as records:
        client.get("/mail-tasks/celery/")
    (record,) = records
    name = "tests.site.mail_task_views.celery_notify"
    assert _summary(record["calls"]) == [
        ("task", None, name, "web", True),
        ("email", 0, None, None, None),
        ("task", None, name, "priority", True),
        ("email", 2, None, None, None),
    ]
    task = record["calls"][0]
    assert (task["lib"], task["backend"], task["error"]) == ("celery", "celery", None)
    assert task["site"]["function"] == "celery_view"
    assert task["ms"] >= record["calls"][1]["ms"]
    assert len(mail.outbox) == 2
    assert_no_address(record)


def test_memory_broker_enqueues_are_recorded_once_and_sent(client: Client) -> None:
    with capture_records() as records:
        client.get("/mail-tasks/celery/")
    (record,) = records
    name = "tests.site.mail_task_views.celery_notify"
    # apply_async sends through app.send_task: one enqueue, one call.
    assert _summary(record["calls"]) == [
        ("task", None, name, "web", False),
        ("task", None, name, "priority", False),
    ]
    assert mail.outbox == []
    with views.celery_app.connection_for_read() as connection:
        for queue in ("web", "priority"):
            message = connection.SimpleQueue(queue).get(timeout=1)
            assert message.headers["task"] == name
            message.ack()


def test_send_task_by_name(client: Client) -> None:
    views.STATE["run"] = lambda: views.celery_app.send_task(
        "billing.tasks.sync_invoice", (1,), queue="billing"
    )
    with capture_records() as records:
        client.get("/mail-tasks/run/")
    (call,) = records[0]["calls"]
    assert (call["task"], call["queue"], call["inline"], call["backend"]) == (
        "billing.tasks.sync_invoice",
        "billing",
        False,
        "celery",
    )


@pytest.mark.django_db(transaction=True)
def test_delay_on_commit_is_recorded_when_the_enqueue_happens(client: Client, eager: None) -> None:
    if not hasattr(views.celery_notify, "delay_on_commit"):
        pytest.skip("this Celery has no delay_on_commit")
    with capture_records() as records:
        client.get("/mail-tasks/celery/?on_commit=1")
    calls = records[0]["calls"]
    assert [(c["kind"], c["parent"]) for c in calls] == [
        ("task", None),
        ("email", 0),
        ("task", None),
        ("email", 2),
    ]
    # At commit, after the atomic block: the enqueue itself ran outside it.
    assert calls[0]["atomic"] is False


def test_outside_a_request_nothing_is_recorded(eager: None) -> None:
    with capture_records() as records:
        assert views.celery_notify.delay(3).get() == 3
    assert records == [] and len(mail.outbox) == 1
