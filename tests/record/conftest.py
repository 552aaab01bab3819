"""Fixtures shared by the recorder's tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from asgiref.local import Local
from django.db import connections


class _Api(BaseHTTPRequestHandler):
    """A JSON API on 127.0.0.1 that answers every GET with a small body, over keep-alive."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api_port() -> Iterator[int]:
    """The port of a local JSON API (see ``_Api``), stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@contextmanager
def replaced_connections() -> Iterator[None]:
    """Django's connection handler with its storage replaced, as tests that swap ``connections`` do: new
    connection objects for this thread, closed afterwards, and the storage put back."""
    saved = connections._connections  # type: ignore[attr-defined]
    connections._connections = Local(connections.thread_critical)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        close_this_threads_connections()
        connections._connections = saved  # type: ignore[attr-defined]


def close_this_threads_connections() -> None:
    """Close this thread's database connections for good: SQLite's wrapper keeps an in-memory test database
    open on ``close()``, and Python 3.13 warns about a connection left to the collector."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            conn.connection.close()
            conn.connection = None
