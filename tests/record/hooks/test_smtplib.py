"""The smtplib hook: the standard library's SMTP client used directly, against a real server on 127.0.0.1."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from async_audit.testing import capture_records
from tests.record.hooks.conftest_mail import (
    SMTP,
    SmtpServer,
    assert_no_address,
    running_smtp_server,
    use_mailer,
)
from tests.site.mail_task_views import STATE


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def test_direct_session_records_connect_sends_and_quit(client: Client, smtp_server: SmtpServer) -> None:
    with capture_records() as records:
        client.get(f"/mail-tasks/smtplib/?port={smtp_server.port}")
    assert len(smtp_server.messages) == 2
    (record,) = records
    calls = record["calls"]
    assert {(c["kind"], c["lib"], c["backend"]) for c in calls} == {("email", "smtplib", "smtplib.SMTP")}
    # SMTP(host, port) connects; send_message goes through sendmail (recorded once); ``with`` ends in QUIT.
    assert [(c["messages"], c["recipients"]) for c in calls] == [(0, 0), (1, 2), (1, 1), (0, 0)]
    assert all(c["parent"] is None and c["error"] is None and c["ms"] >= 0 for c in calls)
    assert {c["site"]["function"] for c in calls} == {"smtplib_direct"}
    assert_no_address(record)


def test_login_and_refused_recipients(client: Client, smtp_server: SmtpServer) -> None:
    def session() -> str:
        with smtplib.SMTP(timeout=5) as smtp:
            smtp.connect("127.0.0.1", smtp_server.port)
            smtp.ehlo()
            try:
                smtp.login("user", "hunter2")  # aiosmtpd offers no AUTH on a plain connection
            except smtplib.SMTPNotSupportedError:
                pass
            smtp.sendmail("a@example.com", ["b@example.com", "c@example.com"], "Subject: x\r\n\r\nbody")
        return "ok"

    STATE["run"] = session
    with capture_records() as records:
        client.get("/mail-tasks/run/")
    calls = records[0]["calls"]
    assert [(c["messages"], c["recipients"], c["error"]) for c in calls] == [
        (0, 0, None),  # connect
        (0, 0, "SMTPNotSupportedError"),  # login
        (1, 2, None),  # sendmail
        (0, 0, None),  # quit
    ]
    assert_no_address(records[0])


def test_refused_connection_is_recorded_and_propagates(client: Client) -> None:
    from tests.record.hooks.conftest_mail import free_port

    port = free_port()

    def connect() -> None:
        smtplib.SMTP("127.0.0.1", port, timeout=5)

    STATE["run"] = connect
    with capture_records() as records, pytest.raises(ConnectionRefusedError):
        client.get("/mail-tasks/run/")
    (call,) = records[0]["calls"]
    assert (call["lib"], call["error"], call["messages"]) == ("smtplib", "ConnectionRefusedError", 0)


def test_django_smtp_backend_does_not_count_smtplib_twice(client: Client, smtp_server: SmtpServer) -> None:
    with use_mailer(SMTP, host="127.0.0.1", port=smtp_server.port, timeout=5), capture_records() as records:
        client.get("/mail-tasks/mass/")
    assert len(smtp_server.messages) == 2
    (call,) = records[0]["calls"]
    assert (call["lib"], call["messages"], call["recipients"]) == ("django.mail", 2, 3)


def test_outside_a_request_nothing_is_recorded(smtp_server: SmtpServer) -> None:
    with capture_records() as records:
        with smtplib.SMTP("127.0.0.1", smtp_server.port, timeout=5) as smtp:
            smtp.sendmail("a@example.com", "b@example.com", "Subject: x\r\n\r\nbody")
    assert records == [] and len(smtp_server.messages) == 1


def test_an_internal_error_in_the_hook_lets_the_mail_go_out(
    client: Client, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, internal_errors: Any
) -> None:
    from async_audit.record.hooks import smtplib_hook

    internal_errors.expected = True

    def broken(to_addrs: Any) -> int:
        raise RuntimeError("hook bug")

    monkeypatch.setattr(smtplib_hook, "_count_addresses", broken)
    with capture_records() as records:
        response = client.get(f"/mail-tasks/smtplib/?port={smtp_server.port}")
    assert response.status_code == 200
    assert len(smtp_server.messages) == 2
    assert internal_errors and all(str(e) == "hook bug" for e in internal_errors)
    # Recorded all the same, with every email key.
    assert all({"backend", "messages", "recipients"} <= set(c) for c in records[0]["calls"])
