"""The django.tasks hook: Django's tasks framework (Django >= 6.0) and its backport (``django_tasks``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core import mail
from django.test import AsyncClient, Client, override_settings

from async_audit.testing import capture_records
from tests.record.hooks.conftest_mail import LOCMEM, assert_no_address, use_mailer
from tests.site import mail_task_views as views

if views.django_task is None:
    pytest.skip("neither django.tasks nor the django_tasks backport is installed", allow_module_level=True)

PACKAGE = views.django_task.__module__.split(".")[0]  # "django" or "django_tasks"
BASE = "django.tasks" if PACKAGE == "django" else "django_tasks"
IMMEDIATE = f"{BASE}.backends.immediate.ImmediateBackend"
DUMMY = f"{BASE}.backends.dummy.DummyBackend"


@pytest.fixture(autouse=True)
def locmem() -> Iterator[None]:
    mail.outbox = []
    with use_mailer(LOCMEM):
        yield


def _backend(path: str) -> override_settings:
    return override_settings(TASKS={"default": {"BACKEND": path}})


def test_immediate_backend_runs_inline_with_its_work_nested(client: Client) -> None:
    with _backend(IMMEDIATE), capture_records() as records:
        response = client.get("/mail-tasks/django-tasks/")
    assert "SUCCESSFUL" in response.content.decode()
    (record,) = records
    task, email = record["calls"]
    assert (task["kind"], task["lib"], task["backend"], task["inline"]) == (
        "task",
        "django.tasks",
        IMMEDIATE,
        True,
    )
    assert (task["task"], task["queue"], task["error"]) == (
        "tests.site.mail_task_views.django_notify",
        "default",
        None,
    )
    assert task["site"]["function"] == "django_tasks_view"
    assert (email["kind"], email["parent"]) == ("email", 0)
    assert len(mail.outbox) == 1
    assert_no_address(record)


def test_dummy_backend_is_not_inline(client: Client) -> None:
    with _backend(DUMMY), capture_records() as records:
        client.get("/mail-tasks/django-tasks/")
    (call,) = records[0]["calls"]
    assert (call["backend"], call["inline"]) == (DUMMY, False)
    assert mail.outbox == []


def test_aenqueue_from_an_async_view() -> None:
    async_client = AsyncClient()

    async def get() -> None:
        with _backend(IMMEDIATE), capture_records() as records:
            await async_client.get("/mail-tasks/django-tasks-async/")
        (record,) = records
        assert record["proto"] == "asgi"
        task, email = record["calls"]
        assert (task["kind"], task["inline"], task["site"]["function"]) == (
            "task",
            True,
            "django_tasks_async_view",
        )
        assert (email["kind"], email["parent"]) == ("email", 0)

    import asyncio

    asyncio.run(get())


def test_outside_a_request_nothing_is_recorded() -> None:
    with _backend(IMMEDIATE), capture_records() as records:
        views.django_notify.enqueue(1)
    assert records == [] and len(mail.outbox) == 1
