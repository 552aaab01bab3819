"""The huey hook: a MemoryHuey in immediate mode (the task runs inside the enqueue) and not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from async_audit.testing import capture_records
from tests.record.hooks.conftest_mail import LOCMEM, assert_no_address, use_mailer

pytest.importorskip("huey")

from tests.site import mail_task_views as views  # noqa: E402 - after the skip: it defines the Huey app

NAME = "tests.site.mail_task_views.huey_notify"


@pytest.fixture(autouse=True)
def locmem() -> Iterator[None]:
    mail.outbox = []
    with use_mailer(LOCMEM):
        yield
    views.huey_app.immediate = True
    views.huey_app.flush()


def test_immediate_mode_runs_inline_with_its_work_nested(client: Client) -> None:
    views.huey_app.immediate = True
    with capture_records() as records:
        client.get("/mail-tasks/huey/")
    (record,) = records
    task, email = record["calls"]
    assert (task["kind"], task["lib"], task["backend"]) == ("task", "huey", "huey")
    assert (task["task"], task["queue"], task["inline"], task["error"]) == (NAME, "tests-huey", True, None)
    assert task["site"]["function"] == "huey_view"
    assert (email["kind"], email["parent"]) == ("email", 0)
    assert len(mail.outbox) == 1
    assert_no_address(record)


def test_queued_mode_is_not_inline(client: Client) -> None:
    views.huey_app.immediate = False
    with capture_records() as records:
        client.get("/mail-tasks/huey/")
    (call,) = records[0]["calls"]
    assert (call["task"], call["inline"]) == (NAME, False)
    assert views.huey_app.pending_count() == 1 and mail.outbox == []


def test_a_scheduled_task_is_not_inline_even_in_immediate_mode(client: Client) -> None:
    views.huey_app.immediate = True
    views.STATE["run"] = lambda: views.huey_notify.schedule((1,), delay=3600)
    with capture_records() as records:
        client.get("/mail-tasks/run/")
    (call,) = records[0]["calls"]
    assert (call["task"], call["inline"]) == (NAME, False)
    assert mail.outbox == []


def test_a_group_is_recorded_as_its_members(client: Client) -> None:
    from huey.api import group

    views.huey_app.immediate = False
    members = group([views.huey_notify.s(n) for n in range(3)])
    views.STATE["run"] = lambda: len(views.huey_app.enqueue(members))
    with capture_records() as records:
        assert client.get("/mail-tasks/run/").content == b"3"
    calls = records[0]["calls"]
    assert [(c["task"], c["parent"]) for c in calls] == [(NAME, None)] * 3
    assert views.huey_app.pending_count() == 3


def test_an_internal_error_in_the_hook_lets_the_task_run(
    client: Client, monkeypatch: pytest.MonkeyPatch, internal_errors: Any
) -> None:
    from async_audit.record.hooks import huey_hook

    internal_errors.expected = True

    def broken(task: Any) -> str:
        raise RuntimeError("hook bug")

    monkeypatch.setattr(huey_hook, "dotted", broken)
    views.huey_app.immediate = True
    with capture_records() as records:
        response = client.get("/mail-tasks/huey/")
    assert response.status_code == 200 and len(mail.outbox) == 1
    assert [str(e) for e in internal_errors] == ["hook bug"]
    # Still recorded, with every task key, and the task's email still nested under it.
    task, email = records[0]["calls"]
    assert (task["kind"], task["task"], task["backend"], task["queue"], task["inline"]) == (
        "task",
        "",
        "huey",
        None,
        False,
    )
    assert email["parent"] == 0


def test_outside_a_request_nothing_is_recorded() -> None:
    views.huey_app.immediate = True
    with capture_records() as records:
        views.huey_notify(1)
    assert records == [] and len(mail.outbox) == 1
