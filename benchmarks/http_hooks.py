"""What one recorded outbound HTTP call costs on top of the call itself, and what a hook costs when idle.

Run: ``python -m benchmarks.http_hooks`` from the repository root (it uses the test site's settings).

The calls need no server, so the figures are the recorder's and not the network's: ``http.client`` talks over
a socket pair whose far end already holds the answer, httpx over its ``MockTransport``. Each view makes
``CALLS`` calls from a real request through the Django test client (the middleware, Django's handler, the
view: a realistic stack to walk). The hook is uninstalled and installed in turn over ``ROUNDS`` rounds; each
call's thread CPU time is taken (so other processes on a shared machine do not count), and the added cost is
the median paired difference of the per-round medians. Outside a request the fall-through is measured the same
way.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time
import types
from collections.abc import Callable

CALLS = 5
REQUESTS = 300
ROUNDS = 9
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()


def _http_client_call() -> Callable[[list[int]], None]:
    import http.client

    near, far = socket.socketpair()
    conn = http.client.HTTPConnection("api.example.com", 80)
    conn.sock = near

    def call(durations: list[int]) -> None:
        far.sendall(ANSWER)
        start = time.thread_time_ns()
        conn.request("GET", "/v1/customers/42")
        conn.getresponse().read()
        durations.append(time.thread_time_ns() - start)
        far.recv(65536)

    return call


def _httpx_call() -> Callable[[list[int]], None]:
    import httpx

    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"ok")))

    def call(durations: list[int]) -> None:
        start = time.thread_time_ns()
        client.get("http://api.example.com/v1/customers/42")
        durations.append(time.thread_time_ns() - start)

    return call


def _measure(hook: str, call: Callable[[list[int]], None]) -> dict[str, float]:
    from django.http import HttpRequest, HttpResponse
    from django.test import Client, override_settings
    from django.urls import path

    from async_audit.record.hooks import _instances, install_hooks
    from async_audit.testing import capture_records

    durations: list[int] = []

    def view(request: HttpRequest) -> HttpResponse:
        for _ in range(CALLS):
            call(durations)
        return HttpResponse("ok")

    urls = types.ModuleType("benchmarks_http_urls")
    urls.urlpatterns = [path("calls/", view)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    client = Client()
    samples: dict[str, list[float]] = {
        k: [] for k in ("off/outside", "on/outside", "off/request", "on/request")
    }
    with override_settings(ROOT_URLCONF=urls.__name__):
        for _ in range(ROUNDS):
            for state in ("off", "on"):
                if state == "off":
                    _instances[hook].uninstall()
                else:
                    install_hooks([hook])
                durations.clear()
                for _ in range(REQUESTS * CALLS):
                    call(durations)
                samples[f"{state}/outside"].append(statistics.median(durations) / 1000)
                durations.clear()
                with capture_records() as records:
                    for _ in range(REQUESTS):
                        client.get("/calls/")
                recorded = sum(1 for r in records for c in r["calls"] if c["kind"] == "http")
                assert recorded == (REQUESTS * CALLS if state == "on" else 0), recorded
                samples[f"{state}/request"].append(statistics.median(durations) / 1000)
    install_hooks([hook])

    def paired(off: str, on: str) -> float:
        return statistics.median(b - a for a, b in zip(samples[off], samples[on], strict=True))

    result = {k: statistics.median(v) for k, v in samples.items()}
    result["added per recorded call"] = paired("off/request", "on/request")
    result["added outside a request"] = paired("off/outside", "on/outside")
    return result


def main() -> None:
    _setup()
    for hook, make in (("http.client", _http_client_call), ("httpx", _httpx_call)):
        result = _measure(hook, make())
        print(f"{hook}: " + ", ".join(f"{k} {v:.1f} µs" for k, v in result.items()))


if __name__ == "__main__":
    main()
