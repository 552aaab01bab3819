"""The httpx hook: sync and async clients against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import async_audit.record.trace
from async_audit.testing import capture_records
from tests.record.hooks.conftest import BODY, FakeApi, call_line, fetch, http_calls

httpx = pytest.importorskip("httpx")

MASKED = "/ok/v1/customers/{id}/contacts/{id}/{id}"
VIEWS = [("httpx", "via_httpx", "httpx"), ("httpx-async", "via_httpx_async", "httpx-async")]


@pytest.mark.parametrize(("view", "function", "marker"), VIEWS)
def test_one_call_with_every_field(
    proto: str, fake_api: FakeApi, view: str, function: str, marker: str
) -> None:
    response, records = fetch(proto, f"/http/{view}/?port={fake_api.port}&method=POST")
    (call,) = http_calls(records)
    assert call["lib"] == "httpx" and call["via"] == "httpx"
    assert (call["method"], call["host"], call["port"], call["path"]) == (
        "POST",
        "127.0.0.1",
        fake_api.port,
        MASKED,
    )
    assert (call["status"], call["error"], call["parent"]) == (200, None, None)
    assert call["timeout"] == 5.0  # httpx's default
    assert call["site"] == {"file": "site/http_views.py", "line": call_line(marker), "function": function}
    assert len(fake_api.seen) == 1
    assert json.loads(json.loads(response.content)["body"]) == BODY


@pytest.mark.parametrize("view", ["httpx", "httpx-async"])
@pytest.mark.parametrize(("timeout", "expected"), [("none", None), ("2.5", 2.5)])
def test_timeout(fake_api: FakeApi, view: str, timeout: str, expected: float | None) -> None:
    _, records = fetch("asgi", f"/http/{view}/?port={fake_api.port}&timeout={timeout}")
    assert http_calls(records)[0]["timeout"] == expected


def test_status_of_an_error_response(proto: str, fake_api: FakeApi) -> None:
    response, records = fetch(proto, f"/http/httpx/?port={fake_api.port}&endpoint=status/404&method=DELETE")
    (call,) = http_calls(records)
    assert (call["method"], call["status"], call["error"]) == ("DELETE", 404, None)
    assert json.loads(response.content)["status"] == 404


@pytest.mark.parametrize("view", ["httpx", "httpx-async"])
def test_refused_and_read_timeout(proto: str, fake_api: FakeApi, refused_port: int, view: str) -> None:
    response, records = fetch(proto, f"/http/{view}/?port={refused_port}")
    assert json.loads(response.content) == {"error": "ConnectError"}
    (call,) = http_calls(records)
    assert (call["error"], call["status"], call["port"]) == ("ConnectError", None, refused_port)

    response, records = fetch(proto, f"/http/{view}/?port={fake_api.port}&endpoint=slow&timeout=0.1")
    assert json.loads(response.content) == {"error": "ReadTimeout"}
    (call,) = http_calls(records)
    assert (call["error"], call["status"], call["timeout"]) == ("ReadTimeout", None, 0.1)


def test_transport_over_urllib3_is_counted_once(proto: str, fake_api: FakeApi) -> None:
    _, records = fetch(proto, f"/http/httpx-urllib3/?port={fake_api.port}")
    (call,) = http_calls(records)  # the http.client call inside the httpx call is the same request
    assert call["lib"] == "httpx" and call["status"] == 200
    assert records[0]["dropped"] == 0  # declining the inner layer is no drop
    assert call["site"]["line"] == call_line("httpx-urllib3")
    assert len(fake_api.seen) == 1


def test_outside_a_request_nothing_is_recorded(fake_api: FakeApi) -> None:
    async def fetch_async() -> int:
        async with httpx.AsyncClient() as client:
            return int((await client.get(f"http://127.0.0.1:{fake_api.port}/ok/2")).status_code)

    with capture_records() as records:
        with httpx.Client() as client:
            assert client.get(f"http://127.0.0.1:{fake_api.port}/ok/1").json() == BODY
        assert asyncio.run(fetch_async()) == 200
    assert records == [] and len(fake_api.seen) == 2


@pytest.mark.parametrize("view", ["httpx", "httpx-async"])
def test_internal_error_leaves_the_request_alone(
    proto: str, fake_api: FakeApi, monkeypatch: Any, internal_errors: Any, view: str
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(async_audit.record.trace, "call_site_at", broken)
    response, records = fetch(proto, f"/http/{view}/?port={fake_api.port}")
    assert json.loads(json.loads(response.content)["body"]) == BODY
    assert len(fake_api.seen) == 1  # the original ran exactly once
    assert http_calls(records) == []
    assert internal_errors and all(isinstance(e, RuntimeError) for e in internal_errors)
    internal_errors.expected = True
