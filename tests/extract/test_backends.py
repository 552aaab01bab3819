"""For every backend: generate the stubs for the shop, install them, and run the task for real.

Each backend runs in its own synchronous or test mode (Django's ImmediateBackend or the backport's, Celery
eager, RQ with a synchronous queue on an in-memory Redis, Dramatiq's StubBroker drained by a real worker, Huey
immediate, django-q2 sync), in a fresh process, and the email must arrive at a real SMTP server on 127.0.0.1:
once from the patched view (enqueued after commit), once from the generated management command.
"""

from __future__ import annotations

import email
import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from async_audit.extract import BACKENDS, write_stubs
from tests.extract.conftest import Mailbox, install, report_of, ruff, shop_finding

_NEEDS = {
    "celery": "celery",
    "rq": "django_rq",
    "dramatiq": "dramatiq",
    "huey": "huey",
    "django_q": "django_q",
}


def _skip_without(backend: str) -> None:
    if backend in _NEEDS:
        pytest.importorskip(_NEEDS[backend])
    if backend == "rq":
        pytest.importorskip("fakeredis")
    if backend == "django_tasks":
        import django

        if django.VERSION < (6, 0):
            pytest.importorskip("django_tasks")


@pytest.mark.e2e
@pytest.mark.parametrize("backend", BACKENDS)
def test_generated_task_delivers_the_email(
    backend: str, shop: Path, tmp_path: Path, smtp_server: tuple[int, Mailbox]
) -> None:
    _skip_without(backend)
    port, mailbox = smtp_server
    mailbox.messages.clear()
    finding = shop_finding(shop, "# the welcome email", atomic=True)
    out = tmp_path / "out"

    written = write_stubs(report_of(finding), backend, out, shop)

    generated = [p for p in written if p.suffix == ".py"]
    assert {p.relative_to(out.resolve()).as_posix() for p in generated} >= {
        "accounts/tasks.py",
        "accounts/management/commands/run_signup_send_mail.py",
    }
    install(out, shop, written)
    views = shop / "accounts" / "views.py"
    for path in [*generated, views]:
        py_compile.compile(str(path), doraise=True)
    installed = [p.relative_to(out.resolve()) for p in generated]
    lint = ruff([Path("accounts/views.py"), *installed], shop)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "send_mail(" not in views.read_text().split("def signup")[1].split("def invite")[0]

    env = {
        **os.environ,
        "SHOP_BACKEND": backend,
        "SHOP_SMTP_PORT": str(port),
        "SHOP_DB": str(tmp_path / "shop.sqlite3"),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = ["run_signup_send_mail", "1", "--user-id", "1"]
    run = subprocess.run(
        [sys.executable, "run_signup.py", *command],
        cwd=shop,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "signup_send_mail: team_id=1 done" in run.stdout
    assert len(mailbox.messages) == 2, run.stderr
    for recipients, raw in mailbox.messages:
        message = email.message_from_bytes(raw)
        assert recipients == ["ada@example.com"]
        assert message["Subject"] == "Welcome to Engines"
        assert "Hello Ada, your team Engines is ready." in message.get_payload()


@pytest.mark.e2e
def test_with_a_real_queue_the_request_only_enqueues_and_the_worker_sends(
    shop: Path, tmp_path: Path, smtp_server: tuple[int, Mailbox]
) -> None:
    """django-tasks-db's DatabaseBackend: nothing is sent during the request; its db_worker sends it."""
    pytest.importorskip("django_tasks_db")
    port, mailbox = smtp_server
    mailbox.messages.clear()
    out = tmp_path / "out"
    finding = shop_finding(shop, "# the welcome email")
    install(out, shop, write_stubs(report_of(finding), "django_tasks", out, shop))
    env = {
        **os.environ,
        "SHOP_BACKEND": "django_tasks_db",
        "SHOP_SMTP_PORT": str(port),
        "SHOP_DB": str(tmp_path / "shop.sqlite3"),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)

    request = subprocess.run(
        [sys.executable, "run_signup.py"], cwd=shop, env=env, capture_output=True, text=True, timeout=120
    )

    assert request.returncode == 0, request.stdout + request.stderr
    assert mailbox.messages == []  # the request enqueued the email and returned

    worker = subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay"],
        cwd=shop,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert [recipients for recipients, _ in mailbox.messages] == [["ada@example.com"]]
