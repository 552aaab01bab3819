"""The django_q hook: django-q2's ``async_task`` with its ORM broker, queued and ``sync``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core import mail
from django.test import Client

from async_audit.record.hooks import installed_hooks
from async_audit.testing import capture_records
from tests.record.hooks.conftest_mail import LOCMEM, assert_no_address, use_mailer

pytest.importorskip("django_q")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def locmem() -> Iterator[None]:
    if "django_q" not in installed_hooks():
        pytest.skip("django_q is not in INSTALLED_APPS")
    mail.outbox = []
    with use_mailer(LOCMEM):
        yield


def test_queued_task_is_one_call_and_lands_in_the_orm_broker(client: Client) -> None:
    from django_q.models import OrmQ

    with capture_records() as records:
        client.get("/mail-tasks/django-q/")
    (record,) = records
    (call,) = [c for c in record["calls"] if c["kind"] == "task"]
    assert (call["lib"], call["backend"], call["task"], call["queue"], call["inline"], call["error"]) == (
        "django_q",
        "django_q",
        "tests.site.mail_task_views.notify",
        "tests",
        False,
        None,
    )
    assert call["site"]["function"] == "django_q_view"
    assert OrmQ.objects.count() == 1 and mail.outbox == []


def test_sync_task_runs_inline_with_its_work_nested(client: Client) -> None:
    with capture_records() as records:
        client.get("/mail-tasks/django-q/?sync=1")
    (record,) = records
    task, email = [c for c in record["calls"] if c["kind"] in ("task", "email")]
    assert (task["inline"], task["parent"]) == (True, None)
    assert (email["kind"], email["parent"]) == ("email", 0)
    assert len(mail.outbox) == 1
    assert_no_address(record)


def test_outside_a_request_nothing_is_recorded() -> None:
    from django_q.tasks import async_task

    with capture_records() as records:
        async_task("tests.site.mail_task_views.notify", 1, sync=True)
    assert records == [] and len(mail.outbox) == 1
