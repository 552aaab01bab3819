from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from services import FAST, REALISTIC, SERVICE_NAMES, Latency, ServiceStack


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_starts_every_service_on_its_own_loopback_port_and_stops_them() -> None:
    with ServiceStack(FAST) as stack:
        urls = stack.urls
        assert set(urls) == set(SERVICE_NAMES)
        ports = {urlsplit(url).port for url in urls.values()}
        assert len(ports) == len(SERVICE_NAMES)
        assert all(urlsplit(url).hostname == "127.0.0.1" for url in urls.values())
        assert all(_port_open(port) for port in ports if port)
        # Keep a connection alive, as the clients' pools do: stopping must close it too.
        session = requests.Session()
        webhook_url = stack.slack.webhook_url
        assert session.post(webhook_url, json={"text": "hi"}, timeout=5).text == "ok"
    assert not any(_port_open(port) for port in ports if port)
    with pytest.raises(requests.ConnectionError):
        session.post(webhook_url, json={"text": "again"}, timeout=5)
    session.close()


def test_environ_points_the_site_at_the_services() -> None:
    with ServiceStack() as stack:
        env = stack.environ()
        assert env["EMAIL_HOST"] == "127.0.0.1"
        assert int(env["EMAIL_PORT"]) == stack.smtp.port
        assert env["HUBSPOT_API_BASE"] == stack.crm.url
        assert env["HUBSPOT_ACCESS_TOKEN"] == stack.crm.token
        assert env["STRIPE_API_BASE"] == stack.stripe.url
        assert env["STRIPE_SECRET_KEY"] == stack.stripe.secret_key
        assert env["ELASTICSEARCH_URL"] == stack.elasticsearch.url
        assert env["SLACK_SALES_WEBHOOK_URL"] == stack.slack.webhook_url


def test_latency_is_set_per_service_and_changes_while_running() -> None:
    with ServiceStack({"crm": Latency(ms=200)}) as stack:
        headers = {"Authorization": f"Bearer {stack.crm.token}"}
        started = time.perf_counter()
        requests.post(stack.crm.url + "/events/v3/send", json={"eventName": "x"}, headers=headers, timeout=5)
        assert time.perf_counter() - started >= 0.2
        stack.set_latency("slack", Latency(ms=120))
        started = time.perf_counter()
        requests.post(stack.slack.webhook_url, json={"text": "x"}, timeout=5)
        assert time.perf_counter() - started >= 0.12
        with pytest.raises(ValueError):
            stack.set_latency("twitter", Latency())


def test_unknown_service_names_are_refused() -> None:
    with pytest.raises(ValueError, match="redis"):
        ServiceStack({"redis": Latency()})


def test_realistic_profile_covers_every_service() -> None:
    assert set(REALISTIC) == set(FAST) == set(SERVICE_NAMES)
    assert all(latency.fail_rate < 0.05 and latency.ms > 10 for latency in REALISTIC.values())


def test_a_service_failing_to_start_stops_the_ones_already_running(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = ServiceStack()

    def refuse() -> None:
        raise OSError("address in use")

    monkeypatch.setattr(stack.elasticsearch, "start", refuse)
    with pytest.raises(OSError, match="address in use"):
        stack.start()
    assert stack._started == []
    with pytest.raises(RuntimeError):
        _ = stack.crm.port
    with pytest.raises(RuntimeError):
        _ = stack.smtp.port
