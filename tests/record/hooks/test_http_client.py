"""The ``http.client`` hook, through the clients built on it, against a real server on 127.0.0.1."""

from __future__ import annotations

import gc
import http.client
import json
import os
import socket
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import urllib3
from django.test import Client, override_settings

import async_audit.record.trace
from async_audit.record import frames
from async_audit.record.hooks import _http, _instances, http_client, install_hooks
from async_audit.record.hooks._http import cleaned_host, masked_path, seconds
from async_audit.record.hooks.base import MARKER
from async_audit.record.recorder import finish_trace, start_trace
from async_audit.record.trace import current_trace
from async_audit.testing import capture_records
from tests.record.conftest import replaced_connections
from tests.record.hooks.conftest import BODY, FakeApi, assert_private, call_line, fetch, http_calls

MASKED = "/ok/v1/customers/{id}/contacts/{id}/{id}"

try:
    from async_audit.record import _callsite
except ImportError:  # not built: the Python path is still tested
    _callsite = None

# The hook's two paths: the common case in C (_callsite.c) where it is built, and Python.
_PATHS: dict[str, tuple[Any, Any]] = {"python": (http_client._for_request, http_client._end)}
if http_client._begin is not http_client._for_request:
    _PATHS["c"] = (http_client._begin, http_client._finish)


@pytest.fixture(autouse=True, params=sorted(_PATHS))
def http_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs through each path, which must record the same."""
    begin, finish = _PATHS[request.param]
    monkeypatch.setattr(http_client, "_begin", begin)
    monkeypatch.setattr(http_client, "_finish", finish)
    return str(request.param)


def test_the_c_path_is_used_where_the_c_walk_is() -> None:
    if os.environ.get("ASYNC_AUDIT_PURE_PYTHON"):
        pytest.skip("ASYNC_AUDIT_PURE_PYTHON is set")
    assert _callsite is not None and frames.call_site_at is _callsite.walk
    assert _PATHS["c"] == (_callsite.http_begin, _callsite.http_end)


def test_a_c_path_that_cannot_be_set_up_leaves_the_hook_in_python(
    monkeypatch: pytest.MonkeyPatch, internal_errors: Any
) -> None:
    if _callsite is None or frames.call_site_at is not _callsite.walk:
        pytest.skip("the C walk is not in use")

    def configure_http(*args: Any) -> None:
        raise TypeError("configure_http() takes other arguments")

    monkeypatch.setattr(_callsite, "configure_http", configure_http)
    assert http_client._fast_path() == (http_client._for_request, http_client._end)
    assert [str(error) for error in internal_errors] == ["configure_http() takes other arguments"]
    internal_errors.clear()


def _only_call(records: list[dict[str, Any]]) -> dict[str, Any]:
    (call,) = http_calls(records)
    return call


def test_requests_one_call_with_every_field(proto: str, fake_api: FakeApi) -> None:
    response, records = fetch(proto, f"/http/requests/?port={fake_api.port}&timeout=pair&method=POST")
    call = _only_call(records)  # requests over urllib3 over http.client: counted once
    assert fake_api.seen == [("POST", f"/ok{_secret_target()}")]
    assert call["kind"] == "http" and call["lib"] == "http.client" and call["via"] == "requests"
    assert (call["method"], call["host"], call["port"]) == ("POST", "127.0.0.1", fake_api.port)
    assert call["path"] == MASKED
    assert call["status"] == 200 and call["error"] is None
    assert call["timeout"] == 7.5  # timeout=(connect, read): the read timeout is the bound on the wait
    assert call["parent"] is None and call["atomic"] is False
    assert call["site"] == {
        "file": "site/http_views.py",
        "line": call_line("requests"),
        "function": "via_requests",
    }
    assert call["ms"] > 0 and call["t"] >= 0
    # The response the site built from the outbound call is what the server sent.
    assert response.status_code == 200
    assert json.loads(json.loads(response.content)["body"]) == BODY


def _secret_target() -> str:
    from tests.site.http_views import SECRET_PATH, SECRET_QUERY

    return f"{SECRET_PATH}?{SECRET_QUERY}"


@pytest.mark.parametrize(("timeout", "expected"), [("none", None), ("2.5", 2.5), ("3", 3.0)])
def test_requests_timeout_in_force(fake_api: FakeApi, timeout: str, expected: float | None) -> None:
    _, records = fetch("wsgi", f"/http/requests/?port={fake_api.port}&timeout={timeout}")
    recorded = _only_call(records)["timeout"]
    # Always a float (or null), whatever type the site gave: the writer memoises a call's text by value.
    assert recorded == expected and type(recorded) is type(expected)


def test_status_of_an_error_response(proto: str, fake_api: FakeApi) -> None:
    response, records = fetch(proto, f"/http/requests/?port={fake_api.port}&endpoint=status/503&method=PUT")
    call = _only_call(records)
    assert (call["method"], call["status"], call["error"]) == ("PUT", 503, None)
    assert call["path"] == "/status/{id}/v1/customers/{id}/contacts/{id}/{id}"
    assert json.loads(response.content)["status"] == 503


def test_read_timeout_is_recorded_and_the_error_propagates(proto: str, fake_api: FakeApi) -> None:
    with capture_records() as records, pytest.raises(requests.ReadTimeout):
        fetch(proto, f"/http/requests/?port={fake_api.port}&endpoint=slow&timeout=0.1")
    assert_private(records[0])
    call = _only_call(records)
    assert call["error"] == "TimeoutError" and call["status"] is None and call["timeout"] == 0.1
    assert records[0]["status"] == 500


def test_refused_connection_propagates_unchanged(proto: str, refused_port: int) -> None:
    with capture_records() as records, pytest.raises(requests.ConnectionError):
        fetch(proto, f"/http/raises/?port={refused_port}")
    assert_private(records[0])
    call = _only_call(records)
    assert call["error"] == "NewConnectionError" and call["status"] is None
    assert (call["method"], call["port"], call["timeout"]) == ("GET", refused_port, 2.0)
    assert call["site"]["function"] == "raises"


def test_https_connection_refused_before_the_request_is_written(refused_port: int) -> None:
    # urllib3 opens HTTPS connections ahead of the request: the method and path still come through.
    response, records = fetch("wsgi", f"/http/requests-https/?port={refused_port}")
    assert json.loads(response.content) == {"error": "ConnectionError"}
    call = _only_call(records)
    assert call["error"] == "NewConnectionError" and call["status"] is None
    assert (call["method"], call["path"], call["port"]) == (
        "POST",
        "/v1/customers/{id}/contacts/{id}/{id}",
        refused_port,
    )
    assert call["timeout"] == 2.0  # the connect timeout: the read timeout never came into force
    assert call["site"]["line"] == call_line("requests-https")


def test_forwarding_proxy_records_the_api_not_the_proxy(fake_api: FakeApi) -> None:
    _, records = fetch("wsgi", f"/http/requests-proxy/?port={fake_api.port}")
    call = _only_call(records)
    assert (call["host"], call["port"], call["path"], call["status"]) == (
        "api.example.org",
        8080,
        MASKED,
        200,
    )
    assert fake_api.seen[0][1].startswith("http://")  # the proxy was asked for the absolute URL


def test_https_connection_failing_its_handshake(fake_api: FakeApi) -> None:
    response, records = fetch("wsgi", f"/http/https-client/?port={fake_api.port}")
    assert json.loads(response.content) == {"error": "SSLError"}
    call = _only_call(records)
    assert (call["method"], call["path"], call["error"], call["timeout"]) == ("GET", MASKED, "SSLError", 5.0)


@pytest.mark.parametrize(
    ("timeout", "marker", "expected"), [("none", "urllib-default", None), ("2.5", "urllib", 2.5)]
)
def test_urllib(proto: str, fake_api: FakeApi, timeout: str, marker: str, expected: float | None) -> None:
    response, records = fetch(proto, f"/http/urllib/?port={fake_api.port}&timeout={timeout}&method=DELETE")
    call = _only_call(records)
    assert call["via"] is None  # the standard library is no third-party package
    assert (call["method"], call["path"], call["status"], call["timeout"]) == (
        "DELETE",
        MASKED,
        200,
        expected,
    )
    assert call["site"] == {"file": "site/http_views.py", "line": call_line(marker), "function": "via_urllib"}
    assert json.loads(json.loads(response.content)["body"]) == BODY


def test_urllib_without_timeout_uses_the_socket_default(fake_api: FakeApi) -> None:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(4.0)
    try:
        _, records = fetch("wsgi", f"/http/urllib/?port={fake_api.port}")
    finally:
        socket.setdefaulttimeout(previous)
    assert _only_call(records)["timeout"] == 4.0


def test_urllib3_keep_alive_connection_records_each_request(proto: str, fake_api: FakeApi) -> None:
    response, records = fetch(proto, f"/http/urllib3/?port={fake_api.port}&n=3&timeout=2")
    calls = http_calls(records)
    assert json.loads(response.content) == {"statuses": [200, 200, 200]}
    assert len(fake_api.seen) == 3 and len(calls) == 3
    assert [c["via"] for c in calls] == ["urllib3"] * 3
    assert [c["timeout"] for c in calls] == [2.0] * 3
    assert calls[0]["t"] < calls[1]["t"] < calls[2]["t"]


def test_http_client_keep_alive(proto: str, fake_api: FakeApi) -> None:
    response, records = fetch(proto, f"/http/http-client/?port={fake_api.port}&n=2")
    calls = http_calls(records)
    assert json.loads(response.content) == {"statuses": [200, 200]}
    assert [(c["method"], c["path"], c["status"], c["timeout"]) for c in calls] == [
        ("POST", MASKED, 200, None)
    ] * 2
    assert {c["site"]["line"] for c in calls} == {call_line("http.client")}


def test_http_client_putrequest_flow(fake_api: FakeApi) -> None:
    _, records = fetch("wsgi", f"/http/http-client/?port={fake_api.port}&mode=put&timeout=3")
    call = _only_call(records)
    assert (call["method"], call["status"], call["timeout"]) == ("DELETE", 200, 3.0)
    assert call["site"]["line"] == call_line("putrequest")


def test_http_client_request_written_by_hand(fake_api: FakeApi) -> None:
    response, records = fetch("wsgi", f"/http/http-client/?port={fake_api.port}&mode=handwritten")
    assert json.loads(response.content) == {"statuses": [200]}, (response.content, fake_api.seen)
    call = _only_call(records)
    # Read by hand, not by getresponse: the status is unknown, the call ends when the connection closes.
    assert (call["method"], call["path"], call["status"], call["error"]) == ("PATCH", MASKED, None, None), (
        call
    )


def test_response_never_read_ends_at_close(proto: str, fake_api: FakeApi) -> None:
    _, records = fetch(proto, f"/http/http-client/?port={fake_api.port}&mode=abandon")
    call = _only_call(records)
    assert (call["method"], call["status"], call["error"]) == ("PUT", None, None)
    assert call["ms"] is not None and call["site"]["line"] == call_line("abandon")


def test_response_never_read_ends_at_the_next_request(fake_api: FakeApi) -> None:
    response, records = fetch("wsgi", f"/http/http-client/?port={fake_api.port}&mode=abandon_next")
    assert json.loads(response.content) == {"statuses": ["CannotSendRequest"]}
    first, second = http_calls(records)
    assert (first["method"], first["status"], first["error"]) == ("PUT", None, None)
    assert (second["method"], second["status"], second["error"]) == ("GET", None, "CannotSendRequest")


def test_http_client_refused_propagates_unchanged(refused_port: int) -> None:
    with capture_records() as records, pytest.raises(ConnectionRefusedError):
        Client().get(f"/http/http-client/?port={refused_port}")
    call = _only_call(records)
    assert (call["method"], call["error"], call["status"]) == ("POST", "ConnectionRefusedError", None)


def test_call_inside_a_block_nests_under_it(proto: str, fake_api: FakeApi) -> None:
    _, records = fetch(proto, f"/http/tracked/?port={fake_api.port}")
    block, call = records[0]["calls"]
    assert block["kind"] == "block" and block["name"] == "notify crm"
    assert call["kind"] == "http" and call["parent"] == 0
    assert call["t"] >= block["t"] and call["ms"] <= block["ms"]
    assert call["site"]["line"] == call_line("tracked")


@pytest.mark.django_db(transaction=True)
def test_call_in_a_signal_handler_is_traced_back_to_the_view(fake_api: FakeApi) -> None:
    _, records = fetch("wsgi", f"/http/saves-note/?port={fake_api.port}")
    call = _only_call(records)
    assert call["site"] == {"file": "site/http_views.py", "line": call_line("signal"), "function": "_notify"}
    assert call["stack"][1] == {
        "file": "site/http_views.py",
        "line": call_line("save"),
        "function": "saves_note",
    }
    assert call["method"] == "POST" and call["timeout"] == 4.0


def test_stripe_sdk(proto: str, fake_api: FakeApi) -> None:
    pytest.importorskip("stripe")
    response, records = fetch(proto, f"/http/stripe/?port={fake_api.port}")
    assert json.loads(response.content) == {"id": "cus_test"}
    call = _only_call(records)  # stripe over requests over urllib3 over http.client: counted once
    assert call["via"] == "stripe" and call["lib"] == "http.client"
    assert (call["method"], call["path"], call["status"]) == ("GET", "/v1/customers/{id}", 200)
    assert isinstance(call["timeout"], float)
    assert call["site"]["line"] == call_line("stripe")
    assert len(fake_api.seen) == 1


def test_elasticsearch_client(proto: str, fake_api: FakeApi) -> None:
    pytest.importorskip("elasticsearch")
    _, records = fetch(proto, f"/http/elasticsearch/?port={fake_api.port}")
    call = _only_call(records)
    assert call["via"] == "elasticsearch"
    assert (call["method"], call["path"], call["status"], call["timeout"]) == (
        "PUT",
        "/notes/_doc/{id}",
        200,
        6.0,
    )
    assert call["site"]["line"] == call_line("elasticsearch")
    assert len(fake_api.seen) == 1


def test_botocore_s3_put_object(proto: str, fake_api: FakeApi) -> None:
    pytest.importorskip("botocore")
    response, records = fetch(proto, f"/http/botocore/?port={fake_api.port}")
    assert json.loads(response.content) == {"status": 200}
    call = _only_call(records)
    assert call["via"] == "botocore"
    assert (call["method"], call["path"], call["status"]) == ("PUT", "/invoices/{id}/{id}", 200)
    assert call["site"]["line"] == call_line("botocore")


def test_outside_a_request_nothing_is_recorded(fake_api: FakeApi) -> None:
    with capture_records() as records:
        session = requests.Session()
        assert session.get(f"http://127.0.0.1:{fake_api.port}/ok/1", timeout=2).status_code == 200
        conn = http.client.HTTPConnection("127.0.0.1", fake_api.port)
        conn.request("GET", "/ok/2")
        assert conn.getresponse().read() == json.dumps(BODY).encode()
        assert not any("async_audit" in name for name in vars(conn))
        conn.close()
        session.close()
    assert records == [] and len(fake_api.seen) == 2


def test_a_recorded_request_leaves_the_connection_object_as_it_was(fake_api: FakeApi) -> None:
    # The call in flight is kept by the trace, never on the connection: an attribute added to a third-party
    # object and taken off again turned its inline attribute storage into a dictionary, and every later
    # attribute read of http.client and urllib3 on that connection became several times slower.
    def attributes(recording: bool) -> tuple[bool, list[str]]:
        conn = http.client.HTTPConnection("127.0.0.1", fake_api.port, timeout=2)
        trace, _ = start_trace("GET", "/", "wsgi")
        assert trace is not None
        token = current_trace.set(trace) if recording else None
        try:
            for n in range(2):
                conn.request("GET", f"/ok/{n}")
                assert conn.getresponse().read() == json.dumps(BODY).encode()
        finally:
            if token is not None:
                current_trace.reset(token)
        finish_trace(trace, True, SimpleNamespace(method="GET", resolver_match=None), 200)
        # Whether the instance's attributes live in a dictionary object (always before Python 3.11; on
        # later versions only once something asked for its __dict__), then which attributes it has.
        as_dict = any(isinstance(r, dict) and "host" in r for r in gc.get_referents(conn))
        keys = list(vars(conn))
        conn.close()
        return as_dict, keys

    with capture_records() as records:
        assert attributes(recording=True) == attributes(recording=False)
    assert [len(record["calls"]) for record in records] == [2, 0]


def test_internal_error_leaves_the_request_alone(
    proto: str, fake_api: FakeApi, monkeypatch: Any, internal_errors: Any
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(async_audit.record.trace, "call_site_at", broken)
    response, records = fetch(proto, f"/http/requests/?port={fake_api.port}")
    assert response.status_code == 200
    assert json.loads(json.loads(response.content)["body"]) == BODY
    assert len(fake_api.seen) == 1  # the original ran exactly once
    assert http_calls(records) == []
    assert internal_errors and all(isinstance(e, RuntimeError) for e in internal_errors)
    internal_errors.expected = True


def test_uninstall_restores_and_reinstall_covers_later_subclasses(fake_api: FakeApi) -> None:
    hook = _instances["http.client"]
    assert hook.installed
    try:
        hook.uninstall()
        assert getattr(http.client.HTTPConnection.putrequest, MARKER, None) is None
        assert getattr(http.client.HTTPSConnection.connect, MARKER, None) is None
        assert "__init_subclass__" not in http.client.HTTPConnection.__dict__

        class Before(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()

        assert getattr(Before.__dict__["connect"], MARKER, None) is None
    finally:
        install_hooks(["http.client"])
    assert getattr(http.client.HTTPConnection.putrequest, MARKER, None) is not None

    class After(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()

    # Both existing and later subclasses that override connect have it wrapped.
    assert getattr(Before.__dict__["connect"], MARKER, None) is not None
    assert getattr(After.__dict__["connect"], MARKER, None) is not None


def test_call_cap_counts_each_request_once(refused_port: int, fake_api: FakeApi) -> None:
    cap = {"MAX_CALLS_PER_REQUEST": 2, "PROJECT_ROOTS": ["tests"]}
    with override_settings(ASYNC_AUDIT=cap):
        _, records = fetch("wsgi", f"/http/urllib3/?port={fake_api.port}&n=3")
        assert (len(http_calls(records)), records[0]["dropped"]) == (2, 1)
    with override_settings(ASYNC_AUDIT={**cap, "MAX_CALLS_PER_REQUEST": 0}):
        # Over HTTPS urllib3 connects before it writes the request: still one request, one drop.
        _, records = fetch("wsgi", f"/http/requests-https/?port={refused_port}")
        assert (records[0]["calls"], records[0]["dropped"]) == ([], 1)


def test_seconds_reads_every_kind_of_timeout() -> None:
    assert seconds(None) is None
    assert seconds(3) == 3.0 and seconds(0.25) == 0.25 and seconds(0) == 0.0
    assert seconds(float("inf")) is None and seconds(-1) is None
    previous = socket.getdefaulttimeout()
    try:
        socket.setdefaulttimeout(None)
        assert seconds(socket._GLOBAL_DEFAULT_TIMEOUT) is None  # type: ignore[attr-defined]
        socket.setdefaulttimeout(12)
        assert seconds(socket._GLOBAL_DEFAULT_TIMEOUT) == 12.0  # type: ignore[attr-defined]
        assert seconds(urllib3.util.timeout._DEFAULT_TIMEOUT) == 12.0
    finally:
        socket.setdefaulttimeout(previous)


def test_masked_path_cache_keeps_no_identifier() -> None:
    raw = "/v1/users/dora@example.com/orders/77123?token=sk_live_dora"
    assert masked_path(raw) == "/v1/users/{id}/orders/{id}"
    assert masked_path(raw) == "/v1/users/{id}/orders/{id}"  # from the cache
    held = repr(_http._masked) + repr(_http._hosts)
    assert "dora" not in held and "77123" not in held
    assert cleaned_host("user:pw@API.Example.com:443") == "api.example.com"
    assert "pw" not in repr(_http._hosts)


@pytest.mark.django_db(transaction=True)
def test_a_call_inside_an_atomic_block_is_marked_atomic(fake_api: FakeApi) -> None:
    from django.db import transaction

    def atomic_flags() -> list[bool]:
        trace, _ = start_trace("GET", "/", "wsgi")
        assert trace is not None
        token = current_trace.set(trace)
        try:
            with capture_records() as records:
                with transaction.atomic():
                    requests.get(f"http://127.0.0.1:{fake_api.port}/ok/in", timeout=2)
                requests.get(f"http://127.0.0.1:{fake_api.port}/ok/out", timeout=2)
                current_trace.reset(token)
                token = None
                finish_trace(trace, True, SimpleNamespace(method="GET", resolver_match=None), 200)
        finally:
            if token is not None:
                current_trace.reset(token)
        return [call["atomic"] for call in http_calls(records)]

    assert atomic_flags() == [True, False]
    with replaced_connections():  # the kept connection objects are not read
        assert atomic_flags() == [True, False]
