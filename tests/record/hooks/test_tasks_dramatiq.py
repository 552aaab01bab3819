"""The dramatiq hook: actor sends to a StubBroker (which holds messages for a worker: never inline)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core import mail
from django.test import Client

from async_audit.testing import capture_records
from tests.record.hooks.conftest_mail import LOCMEM, use_mailer

pytest.importorskip("dramatiq")

from tests.site import mail_task_views as views  # noqa: E402 - after the skip: it defines the actor


@pytest.fixture(autouse=True)
def locmem() -> Iterator[None]:
    mail.outbox = []
    with use_mailer(LOCMEM):
        yield
    views.dramatiq_broker.flush_all()


def test_send_is_one_call_and_the_message_is_queued(client: Client) -> None:
    with capture_records() as records:
        client.get("/mail-tasks/dramatiq/")
    (call,) = records[0]["calls"]
    assert (call["kind"], call["lib"], call["backend"]) == ("task", "dramatiq", "dramatiq")
    assert (call["task"], call["queue"], call["inline"], call["error"]) == (
        "tests.site.mail_task_views.dramatiq_notify",
        "mail",
        False,
        None,
    )
    assert call["site"]["function"] == "dramatiq_view"
    assert views.dramatiq_broker.queues["mail"].qsize() == 1
    assert mail.outbox == []


def test_send_with_options_and_delay(client: Client) -> None:
    views.STATE["run"] = lambda: views.dramatiq_notify.send_with_options(args=(2,), delay=60_000).message_id
    with capture_records() as records:
        client.get("/mail-tasks/run/")
    (call,) = records[0]["calls"]
    assert (call["task"], call["inline"]) == ("tests.site.mail_task_views.dramatiq_notify", False)


def test_outside_a_request_nothing_is_recorded() -> None:
    with capture_records() as records:
        views.dramatiq_notify.send(1)
    assert records == []
