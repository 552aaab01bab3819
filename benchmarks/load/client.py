"""A concurrent HTTP/1.1 load client on asyncio: keep-alive connections, an exact count of every request.

Run in its own process (``python -m benchmarks.load.client URL --requests N``), so its CPU does not share a
GIL with the stand-in services; it prints one JSON object: how many requests got an answer, how many failed
on the client side, how long it took, and per path the distinct (status, body digest) pairs seen. A request
either gets its whole answer or is counted as an error, so the count compared with the records is exact.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: (method, path, body) played in turn: the home page (a query, a template), a search that calls the
#: Elasticsearch stand-in (an outbound call the recorder records; its query string must not reach a record),
#: and a 404 (nothing resolved: route null).
WSGI_PLAN: list[tuple[str, str, bytes]] = [
    ("GET", "/", b""),
    ("GET", "/no-such-page/", b""),
    ("GET", "/", b""),
    ("GET", "/directory/?q=copper", b""),
    ("GET", "/", b""),
    ("GET", "/no-such-page/", b""),
    ("GET", "/", b""),
    ("GET", "/no-such-page/", b""),
]
ASGI_PLAN: list[tuple[str, str, bytes]] = WSGI_PLAN


@dataclass
class Result:
    """What one client run saw."""

    answered: int = 0
    errors: int = 0
    seconds: float = 0.0
    answers: dict[str, Counter[str]] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "errors": self.errors,
            "seconds": self.seconds,
            "rps": self.answered / self.seconds if self.seconds else 0.0,
            "answers": {path: dict(c) for path, c in self.answers.items()},
            "error_samples": self.error_samples[:5],
        }


def _request_bytes(method: str, path: str, body: bytes, host: str) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: async-audit-load\r\n"
    if method != "GET":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed before the status line")
    status = int(status_line.split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    close = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
        elif name == b"connection" and value == b"close":
            close = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body = await reader.read()
        close = True
    return status, body, close


async def _run(
    url: str, total: int, concurrency: int, plan: list[tuple[str, str, bytes]], limit: float
) -> Result:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    encoded = [(path, _request_bytes(method, path, body, f"{host}:{port}")) for method, path, body in plan]
    result = Result(answers={path: Counter() for _, path, _ in plan})
    next_index = 0
    started = time.perf_counter()
    deadline = started + limit

    async def connection() -> None:
        nonlocal next_index
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while next_index < total and time.perf_counter() < deadline:
            index = next_index
            next_index += 1
            path, request = encoded[index % len(encoded)]
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(request)
                status, body, close = await _read_response(reader)
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{path}: {type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            result.answered += 1
            result.answers[path][f"{status} {hashlib.sha256(body).hexdigest()[:16]}"] += 1
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def drive(url: str, total: int, concurrency: int, plan: list[tuple[str, str, bytes]], limit: float) -> Result:
    """Send ``total`` requests (cycling through ``plan``) over ``concurrency`` connections, stopping
    early after ``limit`` seconds."""
    return asyncio.run(_run(url, total, concurrency, plan, limit))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--plan", choices=["wsgi", "asgi"], default="wsgi")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds at most")
    args = parser.parse_args(argv)
    if not args.url.startswith("http://127.0.0.1:"):
        parser.error("loopback only: the URL must start with http://127.0.0.1:")
    plan = ASGI_PLAN if args.plan == "asgi" else WSGI_PLAN
    result = drive(args.url, args.requests, args.concurrency, plan, args.limit)
    json.dump(result.to_dict(), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
