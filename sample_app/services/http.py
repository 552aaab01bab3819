"""The base of the HTTP stand-ins: a threaded HTTP/1.1 server on 127.0.0.1 with a small route table."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from .latency import NONE, Dice, Latency


@dataclass
class Request:
    """One request as a stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """The urlencoded body, one value per key (Stripe's SDK sends ``metadata[plan]=...`` style keys)."""
        return {
            key: values[-1] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()
        }


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, or str/bytes sent as they are
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Request], Response]


class HTTPService:
    """A stand-in for a third-party HTTP API, on an ephemeral loopback port.

    Subclasses list their ``routes`` as ``(method, path regex, method name)``; every request first waits the
    delay the service's :class:`Latency` draws, and a failing draw answers :meth:`failure` instead.
    """

    name: ClassVar[str] = "service"
    routes: ClassVar[list[tuple[str, str, str]]] = []

    def __init__(self, latency: Latency = NONE, *, seed: int = 0) -> None:
        self.latency = latency
        self._dice = Dice(seed)
        self._lock = threading.Lock()
        self._received: list[Request] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._compiled = [(method, re.compile(pattern), attr) for method, pattern, attr in self.routes]

    # Lifecycle

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError(f"{self.name} is already running")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        # Clients keep connections alive; close them so no socket outlives the service.
        with self._lock:
            connections, self._connections = set(self._connections), set()
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HTTPService:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # What the service saw

    @property
    def received(self) -> list[Request]:
        with self._lock:
            return list(self._received)

    def requests_to(self, method: str, path_pattern: str) -> list[Request]:
        pattern = re.compile(path_pattern)
        return [r for r in self.received if r.method == method and pattern.fullmatch(r.path)]

    # Hooks for subclasses

    def response_headers(self) -> dict[str, str]:
        return {}

    def authorize(self, request: Request) -> Response | None:
        """Return an error response to refuse the request, None to let it through."""
        return None

    def failure(self, request: Request) -> Response:
        return Response(503, {"error": "service unavailable"})

    # Serving

    def handle(self, request: Request) -> Response:
        with self._lock:
            self._received.append(request)
        delay, fails = self._dice.roll(self.latency)
        if delay:
            time.sleep(delay)
        if fails:
            return self.failure(request)
        refused = self.authorize(request)
        if refused is not None:
            return refused
        allowed: list[str] = []
        for method, pattern, attr in self._compiled:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            handler: Handler = getattr(self, attr)
            return handler(request)
        if allowed:
            return Response(
                405, {"error": f"method {request.method} not allowed"}, headers={"Allow": ", ".join(allowed)}
            )
        return Response(404, {"error": f"no route for {request.method} {request.path}"})

    def _track(self, sock: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(sock)
            else:
                self._connections.discard(sock)


def _handler_for(service: HTTPService) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client libraries' connection pools expect
        server_version = f"{service.name}-standin/1.0"
        timeout = 30  # idle keep-alive connections are closed after this

        def setup(self) -> None:
            super().setup()
            service._track(self.connection, True)

        def finish(self) -> None:
            service._track(self.connection, False)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self._read_body(),
            )
            try:
                response = service.handle(request)
            except Exception as exc:  # a bug in a stand-in must show as a 500, not a hung client
                response = Response(500, {"error": f"stand-in error: {exc!r}"})
            payload = b"" if self.command == "HEAD" else response.encode()
            self.send_response(response.status)
            headers = {**service.response_headers(), **response.headers}
            if response.body is not None or response.status not in (204, 304):
                headers.setdefault("Content-Type", response.content_type)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header(
                "Content-Length", str(len(response.encode()) if self.command == "HEAD" else len(payload))
            )
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return _read_chunked(self.rfile)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return _Handler


def _read_chunked(stream: io.BufferedIOBase) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            stream.readline()
            return b"".join(chunks)
        chunks.append(stream.read(size))
        stream.readline()
