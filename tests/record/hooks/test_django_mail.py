"""The django.mail hook: every message through Django's mail API, whatever the backend, Django 4.2 to 6.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client, override_settings

from async_audit.record.hooks import _instances, installed_hooks
from async_audit.record.hooks import django_mail as hook_module
from async_audit.record.hooks.base import MARKER
from async_audit.record.hooks.django_mail import is_patched
from async_audit.testing import capture_records
from tests.record.hooks.conftest_mail import (
    HAS_MAILERS,
    LOCMEM,
    SMTP,
    SmtpServer,
    admins_setting,
    assert_no_address,
    free_port,
    running_smtp_server,
    use_mailer,
)
from tests.site import mail_backends
from tests.site.mail_task_views import STATE, TO, mail_connection

APIS = ["mailers", "email_backend"]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def _skip_duplicate(api: str) -> None:
    if api == "mailers" and not HAS_MAILERS:
        pytest.skip("MAILERS is new in Django 6.1; EMAIL_BACKEND is the same code path here")


def _email_calls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (record,) = records
    return [c for c in record["calls"] if c["kind"] == "email"]


@pytest.mark.parametrize("api", APIS)
def test_smtp_backend_to_a_real_server_is_one_call_with_counts(
    api: str, client: Client, smtp_server: SmtpServer
) -> None:
    _skip_duplicate(api)
    with use_mailer(SMTP, api=api, host="127.0.0.1", port=smtp_server.port, timeout=5):
        with capture_records() as records:
            response = client.get("/mail-tasks/send-mail/")
    assert response.json() == {"sent": 1}
    (envelope,) = smtp_server.messages
    assert envelope.rcpt_tos == TO
    (record,) = records
    # smtplib runs inside Django's SMTP backend: the same email, recorded once.
    (call,) = record["calls"]
    assert call["kind"] == "email" and call["lib"] == "django.mail"
    assert call["backend"] == SMTP
    assert (call["messages"], call["recipients"], call["error"], call["parent"]) == (1, 2, None, None)
    assert call["ms"] > 0
    assert (call["site"]["file"], call["site"]["function"]) == ("site/mail_task_views.py", "send_one")
    assert_no_address(record)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("url", "messages", "recipients", "outbox"),
    [
        ("/mail-tasks/send-mail/", 1, 2, 1),
        ("/mail-tasks/mass/", 2, 3, 2),
        ("/mail-tasks/message/", 1, 3, 1),
        ("/mail-tasks/admins/", 1, 2, 1),
        ("/mail-tasks/connection/", 2, 2, 2),
    ],
)
def test_every_mail_api_is_recorded_with_locmem(
    api: str, url: str, messages: int, recipients: int, outbox: int, client: Client
) -> None:
    _skip_duplicate(api)
    mail.outbox = []
    with use_mailer(LOCMEM, api=api), override_settings(ADMINS=admins_setting()):
        with capture_records() as records:
            client.get(url)
    assert len(mail.outbox) == outbox
    (call,) = _email_calls(records)
    assert call["backend"] == LOCMEM
    assert (call["messages"], call["recipients"], call["error"]) == (messages, recipients, None)
    assert call["site"]["file"] == "site/mail_task_views.py"
    assert_no_address(records[0])


def test_mail_sent_from_an_async_view_under_asgi(smtp_server: SmtpServer) -> None:
    import asyncio

    from django.test import AsyncClient

    async def get() -> Any:
        with capture_records() as records:
            response = await AsyncClient().get("/mail-tasks/async-send/")
        return response, records

    with use_mailer(SMTP, host="127.0.0.1", port=smtp_server.port, timeout=5):
        response, records = asyncio.run(get())
    assert response.json() == {"sent": 1}
    assert len(smtp_server.messages) == 1
    (record,) = records
    assert record["proto"] == "asgi"
    (call,) = record["calls"]
    assert (call["lib"], call["backend"], call["messages"], call["recipients"]) == ("django.mail", SMTP, 1, 2)
    assert_no_address(record)


def test_console_and_file_backends(client: Client, capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    console = "django.core.mail.backends.console.EmailBackend"
    with use_mailer(console), capture_records() as records:
        client.get("/mail-tasks/send-mail/")
    assert "Subject: Welcome" in capsys.readouterr().out
    (call,) = _email_calls(records)
    assert (call["backend"], call["messages"], call["recipients"]) == (console, 1, 2)

    filebased = "django.core.mail.backends.filebased.EmailBackend"
    with use_mailer(filebased, file_path=str(tmp_path)), capture_records() as records:
        client.get("/mail-tasks/mass/")
    assert len(list(tmp_path.iterdir())) == 1
    # The file backend opens its file inside send_messages: one call, not an extra one for open().
    (call,) = _email_calls(records)
    assert (call["backend"], call["messages"], call["recipients"]) == (filebased, 2, 3)


def test_connection_opened_by_the_site_is_recorded_around_the_sends(
    client: Client, smtp_server: SmtpServer
) -> None:
    with use_mailer(SMTP, host="127.0.0.1", port=smtp_server.port, timeout=5):
        with capture_records() as records:
            client.get("/mail-tasks/connection/")
    assert len(smtp_server.messages) == 2
    calls = _email_calls(records)
    # open() (connect, greeting) at ``with``, the sends, close() (QUIT) at the end of the block.
    assert [(c["messages"], c["recipients"]) for c in calls] == [(0, 0), (2, 2), (0, 0)]
    assert {c["backend"] for c in calls} == {SMTP}
    assert all(c["parent"] is None and c["lib"] == "django.mail" for c in calls)


def test_refused_connection_records_the_error_and_the_site_sees_its_own_exception(client: Client) -> None:
    with use_mailer(SMTP, host="127.0.0.1", port=free_port(), timeout=5):
        with capture_records() as records, pytest.raises(ConnectionRefusedError):
            client.get("/mail-tasks/send-mail/")
    (record,) = records
    assert record["status"] == 500
    (call,) = _email_calls(records)
    assert call["error"] == "ConnectionRefusedError"
    assert (call["messages"], call["recipients"]) == (1, 2)


def test_a_failure_the_backend_swallows_is_still_recorded(client: Client) -> None:
    # fail_silently: the site sees nothing, the mail never left; the record says why.
    port = free_port()

    def send() -> int:
        if HAS_MAILERS:
            connection = mail.mailers.default
        else:
            connection = mail.get_connection(fail_silently=True)
        message = mail.EmailMessage("S", "b", "a@example.com", ["b@example.com"])
        sent: int = connection.send_messages([message])
        return sent

    STATE["run"] = send
    options = {"fail_silently": True} if HAS_MAILERS else {}
    with use_mailer(SMTP, host="127.0.0.1", port=port, timeout=5, **options), capture_records() as records:
        assert client.get("/mail-tasks/run/").content == b"0"
    (call,) = _email_calls(records)
    assert (call["messages"], call["error"]) == (1, "ConnectionRefusedError")


def test_a_backend_class_defined_after_start_up_is_patched_when_defined(client: Client) -> None:
    class LateBackend(BaseEmailBackend):
        sent: list[Any] = []

        def send_messages(self, email_messages: Any) -> int:
            LateBackend.sent.extend(email_messages)
            return len(email_messages)

    assert is_patched(LateBackend)
    message = mail.EmailMessage("Hi", "there", "a@example.com", ["b@example.com", "c@example.com"])
    STATE["run"] = lambda: LateBackend().send_messages([message])
    with capture_records() as records:
        assert client.get("/mail-tasks/run/").content == b"1"
    (call,) = _email_calls(records)
    assert call["backend"].endswith("LateBackend")
    assert (call["messages"], call["recipients"]) == (1, 2)


def test_a_backend_extending_another_is_one_call_named_after_the_outer_class(client: Client) -> None:
    from django.core.mail.backends.locmem import EmailBackend

    class Tagging(EmailBackend):
        def send_messages(self, messages: Any) -> int:
            count: int = super().send_messages(messages)
            return count

    mail.outbox = []
    message = mail.EmailMessage("Hi", "there", "a@example.com", ["b@example.com"])
    STATE["run"] = lambda: Tagging().send_messages([message])
    with use_mailer(LOCMEM), capture_records() as records:
        client.get("/mail-tasks/run/")
    (call,) = _email_calls(records)
    assert call["backend"].endswith("Tagging") and call["messages"] == 1
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("api", APIS)
def test_a_backend_that_does_not_subclass_the_base_is_patched_when_django_loads_it(
    api: str, client: Client
) -> None:
    _skip_duplicate(api)
    mail_backends.DuckBackend.outbox.clear()
    with use_mailer("tests.site.mail_backends.DuckBackend", api=api), capture_records() as records:
        client.get("/mail-tasks/send-mail/")
    assert len(mail_backends.DuckBackend.outbox) == 1
    (call,) = _email_calls(records)
    assert call["backend"] == "tests.site.mail_backends.DuckBackend"
    assert (call["messages"], call["recipients"]) == (1, 2)


def test_a_generator_of_messages_is_counted_as_the_backend_reads_it(client: Client) -> None:
    mail.outbox = []
    messages = [mail.EmailMessage("S", "b", "a@example.com", [to]) for to in TO + ["x@example.com"]]

    def send() -> int:
        count: int = mail_connection().send_messages(m for m in messages)
        return count

    STATE["run"] = send
    with use_mailer(LOCMEM), capture_records() as records:
        client.get("/mail-tasks/run/")
    assert len(mail.outbox) == 3
    (call,) = _email_calls(records)
    assert (call["messages"], call["recipients"]) == (3, 3)


def test_api_backend_http_call_nests_under_its_email_call(client: Client, fake_api: Any) -> None:
    if "http.client" not in installed_hooks():
        pytest.skip("the http.client hook is not installed")
    mail_backends.API["url"] = f"http://127.0.0.1:{fake_api.port}/v3/mail/send"
    with use_mailer("tests.site.mail_backends.ApiEmailBackend"), capture_records() as records:
        client.get("/mail-tasks/send-mail/")
    (record,) = records
    email, http = record["calls"]
    assert email["kind"] == "email" and email["backend"] == "tests.site.mail_backends.ApiEmailBackend"
    assert email["messages"] == 1
    assert http["kind"] == "http" and http["parent"] == 0 and http["method"] == "POST"
    assert email["ms"] >= http["ms"]
    assert_no_address(record)


def test_mail_outside_a_request_is_sent_and_not_recorded() -> None:
    mail.outbox = []
    with use_mailer(LOCMEM), capture_records() as records:
        mail.send_mail("S", "b", "a@example.com", ["b@example.com"])
    assert len(mail.outbox) == 1
    assert records == []


def test_an_internal_error_in_the_hook_lets_the_mail_go_out(
    client: Client, monkeypatch: pytest.MonkeyPatch, internal_errors: Any
) -> None:
    internal_errors.expected = True

    def broken(messages: Any) -> int:
        raise RuntimeError("hook bug")

    monkeypatch.setattr(hook_module, "count_recipients", broken)
    mail.outbox = []
    with use_mailer(LOCMEM), capture_records() as records:
        response = client.get("/mail-tasks/send-mail/")
    assert response.status_code == 200 and response.json() == {"sent": 1}
    assert len(mail.outbox) == 1
    assert any(isinstance(e, RuntimeError) and str(e) == "hook bug" for e in internal_errors)
    # The call is still recorded, with every email key present.
    (call,) = _email_calls(records)
    assert {"backend", "messages", "recipients", "error"} <= set(call)


def test_uninstall_restores_every_backend_and_install_patches_again() -> None:
    hook = _instances["django.mail"]
    locmem = mail.get_connection.__module__  # keep the import used on every version
    assert locmem
    from django.core.mail.backends import locmem as locmem_module

    assert is_patched(locmem_module.EmailBackend)
    hook.uninstall()
    try:
        assert not is_patched(locmem_module.EmailBackend)
        assert "__init_subclass__" not in BaseEmailBackend.__dict__
        assert getattr(mail.import_string, MARKER, None) is None
    finally:
        hook.install()
    assert is_patched(locmem_module.EmailBackend)
