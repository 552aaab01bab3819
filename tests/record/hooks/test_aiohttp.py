"""The aiohttp hook: client sessions against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import async_audit.record.trace
from async_audit.testing import capture_records
from tests.record.hooks.conftest import BODY, FakeApi, call_line, fetch, http_calls

aiohttp = pytest.importorskip("aiohttp")

MASKED = "/ok/v1/customers/{id}/contacts/{id}/{id}"
# An async view, and a sync view running its own event loop.
VIEWS = [("aiohttp", "via_aiohttp"), ("aiohttp-sync", "via_aiohttp_sync")]


@pytest.mark.parametrize(("view", "outer"), VIEWS)
def test_one_call_with_every_field(proto: str, fake_api: FakeApi, view: str, outer: str) -> None:
    response, records = fetch(proto, f"/http/{view}/?port={fake_api.port}&method=PATCH")
    (call,) = http_calls(records)
    assert call["lib"] == "aiohttp" and call["via"] == "aiohttp"
    assert (call["method"], call["host"], call["port"], call["path"]) == (
        "PATCH",
        "127.0.0.1",
        fake_api.port,
        MASKED,
    )
    assert (call["status"], call["error"], call["parent"]) == (200, None, None)
    assert call["timeout"] == 300.0  # aiohttp's default session timeout: total=300
    assert call["site"] == {
        "file": "site/http_views.py",
        "line": call_line("aiohttp"),
        "function": "_aiohttp_fetch",
    }
    assert call["stack"][1]["function"] == outer
    assert len(fake_api.seen) == 1
    assert json.loads(json.loads(response.content)["body"]) == BODY


@pytest.mark.parametrize(("timeout", "expected"), [("none", None), ("2.5", 2.5)])
def test_timeout(fake_api: FakeApi, timeout: str, expected: float | None) -> None:
    _, records = fetch("asgi", f"/http/aiohttp/?port={fake_api.port}&timeout={timeout}")
    assert http_calls(records)[0]["timeout"] == expected


def test_status_of_an_error_response(proto: str, fake_api: FakeApi) -> None:
    response, records = fetch(proto, f"/http/aiohttp/?port={fake_api.port}&endpoint=status/500")
    (call,) = http_calls(records)
    assert (call["method"], call["status"], call["error"]) == ("GET", 500, None)
    assert json.loads(response.content)["status"] == 500


def test_refused_and_read_timeout(proto: str, fake_api: FakeApi, refused_port: int) -> None:
    response, records = fetch(proto, f"/http/aiohttp/?port={refused_port}")
    error = json.loads(response.content)["error"]
    (call,) = http_calls(records)
    assert error.startswith("ClientConnector")
    assert (call["error"], call["status"], call["port"]) == (error, None, refused_port)

    response, records = fetch(proto, f"/http/aiohttp/?port={fake_api.port}&endpoint=slow&timeout=0.1")
    error = json.loads(response.content)["error"]
    (call,) = http_calls(records)
    assert "Timeout" in error
    assert (call["error"], call["status"], call["timeout"]) == (error, None, 0.1)


def test_outside_a_request_nothing_is_recorded(fake_api: FakeApi) -> None:
    async def fetch_async() -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{fake_api.port}/ok/1") as response:
                return await response.json()

    with capture_records() as records:
        assert asyncio.run(fetch_async()) == BODY
    assert records == [] and len(fake_api.seen) == 1


def test_internal_error_leaves_the_request_alone(
    proto: str, fake_api: FakeApi, monkeypatch: Any, internal_errors: Any
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(async_audit.record.trace, "call_site_at", broken)
    response, records = fetch(proto, f"/http/aiohttp/?port={fake_api.port}")
    assert json.loads(json.loads(response.content)["body"]) == BODY
    assert len(fake_api.seen) == 1  # the original ran exactly once
    assert http_calls(records) == []
    assert internal_errors and all(isinstance(e, RuntimeError) for e in internal_errors)
    internal_errors.expected = True
