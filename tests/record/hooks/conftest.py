"""Real HTTP servers on 127.0.0.1 for the outbound-HTTP hook tests.

The fake API answers by the first path segment: ``/slow/...`` waits ``SLOW_SECONDS`` before answering,
``/status/<code>/...`` answers with that status, ``/close/...`` closes the connection without an answer,
anything else is a 200 with a small JSON body. Every answer carries the header the Elasticsearch client
insists on.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.site import http_views

SLOW_SECONDS = 0.5
BODY = {"id": "cus_test", "object": "customer", "result": "created", "_id": "1", "_index": "notes"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                self.rfile.read(size + 2)
                if size == 0:
                    return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _answer(self) -> None:
        self._read_body()
        self.server.seen.append((self.command, self.path))
        first, _, rest = self.path.lstrip("/").partition("/")
        if first == "slow":
            time.sleep(SLOW_SECONDS)
        if first == "close":
            self.close_connection = True
            return
        status = int(rest.split("/", 1)[0]) if first == "status" else 200
        # S3 answers a PUT with an empty body; botocore takes any body it cannot parse for an error.
        payload = b"" if self.headers.get("X-Amz-Date") else json.dumps(BODY).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("ETag", '"9b2cf535f27731c974343645a3985328"')
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a slow answer breaks the pipe: expected here


@dataclass
class FakeApi:
    """A running fake API: its port and every request it received, as ``(method, path)``."""

    port: int
    seen: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture(scope="session")
def _fake_api_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_api(_fake_api_server: _Server) -> FakeApi:
    _fake_api_server.seen = []
    api = FakeApi(_fake_api_server.server_address[1])
    api.seen = _fake_api_server.seen
    return api


@pytest.fixture
def refused_port() -> int:
    return http_views.refused_port()


@pytest.fixture
def client() -> Client:
    return Client()


_MARKER = re.compile(r"#\s*call:\s*(\S+)\s*$")


def call_line(name: str) -> int:
    """The line of ``tests/site/http_views.py`` marked ``# call: <name>``."""
    source = Path(http_views.__file__).read_text().splitlines()
    lines = [i for i, text in enumerate(source, 1) if (m := _MARKER.search(text)) and m.group(1) == name]
    assert len(lines) == 1, name
    return lines[0]


# What the test site's outbound URLs carry and no record may ever hold.
SECRETS = (
    "hunter2",
    "sk_live",
    "sk_test",
    "alice",
    "bob",
    "carol",
    "example.com",
    "api_key",
    "cus_9s6",
    "8841",
    "AKIDEXAMPLE",
    "88123",
    "user:",
    "?",
    "@",
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def assert_private(record: dict[str, Any]) -> None:
    """No secret in any text of the record (numbers are timings and ports: "8841" may well be in a time)."""
    text = "\n".join(_strings(record))
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, (leaked, json.dumps(record))


@pytest.fixture(params=["wsgi", "asgi"])
def proto(request: pytest.FixtureRequest) -> str:
    """Each test through Django's WSGI handler (``Client``) and its ASGI handler (``AsyncClient``)."""
    return str(request.param)


def fetch(proto: str, url: str) -> tuple[Any, list[dict[str, Any]]]:
    """GET ``url`` from the test site through ``proto``; the response and the records it produced."""
    from django.test import AsyncClient

    from async_audit.testing import capture_records

    with capture_records() as records:
        if proto == "wsgi":
            response = Client().get(url)
        else:
            response = asyncio.run(AsyncClient().get(url))
    assert len(records) == 1
    assert records[0]["proto"] == proto
    assert_private(records[0])
    return response, records


def http_calls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for r in records for c in r["calls"] if c["kind"] == "http"]
