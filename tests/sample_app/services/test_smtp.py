from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator

import pytest

from services import Latency, SMTPService


@pytest.fixture
def smtp() -> Iterator[SMTPService]:
    with SMTPService() as service:
        yield service


def test_receives_and_counts_messages_from_smtplib(smtp: SMTPService) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
        client.sendmail("hello@ledgerly.example", ["amara@copper.example"], b"Subject: Welcome\r\n\r\nHi!")
        client.sendmail(
            "hello@ledgerly.example", ["a@x.example", "b@y.example"], b"Subject: News\r\n\r\nHello"
        )
    assert smtp.count == 2
    assert [m.subject for m in smtp.to("amara@copper.example")] == ["Welcome"]
    assert smtp.messages[1].rcpt_tos == ("a@x.example", "b@y.example")
    assert smtp.messages[0].message.get_content().strip() == "Hi!"


def test_latency_delays_the_answer_to_data(smtp: SMTPService) -> None:
    smtp.latency = Latency(ms=150)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
        started = time.perf_counter()
        client.sendmail("a@x.example", ["b@y.example"], b"Subject: slow\r\n\r\n.")
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.15


def test_a_failing_call_is_a_temporary_rejection(smtp: SMTPService) -> None:
    smtp.latency = Latency(fail_rate=1.0)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPDataError) as raised:
            client.sendmail("a@x.example", ["b@y.example"], b"Subject: lost\r\n\r\n.")
    assert raised.value.smtp_code == 451
    assert smtp.count == 0


def test_stop_closes_the_port() -> None:
    service = SMTPService()
    service.start()
    port = service.port
    service.stop()
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=2)
    with pytest.raises(RuntimeError):
        _ = service.port
