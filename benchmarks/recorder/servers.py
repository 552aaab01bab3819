"""The outside world the benchmark's views talk to, on 127.0.0.1, in a process of its own.

An HTTP/1.1 keep-alive JSON API (``http.server``) and an SMTP server (aiosmtpd) that accepts and discards.
Prints ``{"http": port, "smtp": port}`` on one line, then serves until its standard input closes.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BODY = b'{"id": 42, "ok": true}'


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm and the client's delayed ACK
        # add 40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


class DiscardHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    from aiosmtpd.controller import Controller

    http = ThreadingHTTPServer(("127.0.0.1", 0), ApiHandler)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    smtp_port = _free_port()  # aiosmtpd checks its server by connecting to it, so it needs a real port
    smtp = Controller(DiscardHandler(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    print(json.dumps({"http": http.server_address[1], "smtp": smtp_port}), flush=True)
    sys.stdin.read()
    smtp.stop()
    http.shutdown()


if __name__ == "__main__":
    main()
