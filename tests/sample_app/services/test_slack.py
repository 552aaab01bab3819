from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from services import Latency, SlackService


@pytest.fixture
def slack() -> Iterator[SlackService]:
    with SlackService() as service:
        yield service


def test_webhook_answers_ok_and_keeps_the_message(slack: SlackService) -> None:
    response = requests.post(slack.webhook_url, json={"text": "INV-0001 issued"}, timeout=5)
    assert (response.status_code, response.text) == (200, "ok")
    assert slack.messages == [{"text": "INV-0001 issued"}]


@pytest.mark.parametrize(
    ("path", "body", "status", "text"),
    [
        ("/services/T1/B1/wrong", {"text": "x"}, 404, "no_service"),
        (None, {"username": "bot"}, 400, "no_text"),
        (None, "not json", 400, "invalid_payload"),
    ],
)
def test_bad_requests(slack: SlackService, path: str | None, body: object, status: int, text: str) -> None:
    url = slack.url + path if path else slack.webhook_url
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    response = requests.post(url, timeout=5, **kwargs)  # type: ignore[arg-type]
    assert (response.status_code, response.text) == (status, text)
    assert slack.messages == []


def test_failure_is_a_500(slack: SlackService) -> None:
    slack.latency = Latency(fail_rate=1.0)
    response = requests.post(slack.webhook_url, json={"text": "x"}, timeout=5)
    assert (response.status_code, response.text) == (500, "internal_error")
