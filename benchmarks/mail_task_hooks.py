"""What one recorded email or task enqueue costs on top of the call itself.

Run: ``python -m benchmarks.mail_task_hooks`` from the repository root (it uses the test site's settings).

Each view sends ``N`` emails (dummy backend) or enqueues ``N`` tasks from a real request through the Django
test client, so every call is made from a realistic stack (the middleware, Django's handler, the view). The
same views run with the hook installed and with it uninstalled, interleaved over several rounds; the loop's
thread CPU time is measured, and the added time per call is the median paired difference divided by ``N``.
Outside a request (the hook installed but nothing recording) the fall-through cost is measured the same way.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

N = 200
ROUNDS = 15


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()


def _workloads() -> dict[str, tuple[str, Callable[[], Any]]]:
    """name -> (hook name, one call)."""
    from django.core import mail
    from tests.site import mail_task_views as views

    message = mail.EmailMessage("Subject", "Body", "a@example.com", ["b@example.com", "c@example.com"])
    out: dict[str, tuple[str, Callable[[], Any]]] = {}
    connection = views.mail_connection()
    out["email (dummy backend)"] = ("django.mail", lambda: connection.send_messages([message]))
    if views.django_task is not None:
        out["task (django.tasks Dummy)"] = ("django.tasks", lambda: views.django_notify.enqueue(1))
    if views.huey_app is not None:
        out["task (huey, queued)"] = ("huey", lambda: views.huey_notify(1))
    if views.dramatiq_broker is not None:
        out["task (dramatiq, StubBroker)"] = ("dramatiq", lambda: views.dramatiq_notify.send(1))
    return out


def _loop(call: Callable[[], Any]) -> float:
    # Thread CPU time: on a shared machine, wall time mostly measures the neighbours.
    start = time.thread_time_ns()
    for _ in range(N):
        call()
    return (time.thread_time_ns() - start) / 1000


def _time_request(client: Any, call: Callable[[], Any]) -> float:
    from tests.site.mail_task_views import STATE

    spent: list[float] = []
    STATE["run"] = lambda: spent.append(_loop(call))
    client.get("/mail-tasks/run/")
    return spent[0]


def _time_outside(call: Callable[[], Any]) -> float:
    return _loop(call)


def main() -> int:
    _setup()
    from django.core import mail
    from django.test import Client, override_settings
    from tests.site import mail_task_views as views

    from async_audit.record.hooks import _instances
    from async_audit.record.trace import begin_call
    from async_audit.testing import capture_records

    # The dummy backend sends nothing: what is left is Django's mail API and the hook (locmem's deepcopy of
    # every message would bury the difference in its own noise).
    mailers = {"default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}}
    settings: dict[str, Any] = {
        "ASYNC_AUDIT": {"MAX_CALLS_PER_REQUEST": N * 2, "PROJECT_ROOTS": ["tests"]},
        "TASKS": {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}},
    }
    if hasattr(mail, "mailers"):
        settings["MAILERS"] = mailers
    else:
        settings["EMAIL_BACKEND"] = mailers["default"]["BACKEND"]
        if views.django_task is not None:
            settings["TASKS"] = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    if views.huey_app is not None:
        views.huey_app.immediate = False
    client = Client()
    print(f"{N} calls per request, {ROUNDS} rounds, medians; Python {sys.version.split()[0]}")
    # The machine's speed right now: on a shared machine every figure below scales with it.
    reference = min(timeit.repeat("sum(range(100))", number=20_000, repeat=5)) / 20_000 * 1e6
    print(f"reference: sum(range(100)) takes {reference:.2f} µs here (about 0.6 µs on an idle modern core)")
    with override_settings(**settings), capture_records() as records:
        for name, (hook_name, call) in _workloads().items():
            hook = _instances[hook_name]
            on: list[float] = []
            off: list[float] = []
            outside_on: list[float] = []
            outside_off: list[float] = []
            for _ in range(ROUNDS):
                for installed in (True, False):
                    if installed:
                        hook.install()
                    else:
                        hook.uninstall()
                    mail.outbox = []
                    views.huey_app and views.huey_app.flush()
                    (on if installed else off).append(_time_request(client, call))
                    (outside_on if installed else outside_off).append(_time_outside(call))
                    records.clear()
            hook.install()
            added = statistics.median(a - b for a, b in zip(on, off, strict=True)) / N
            fall = statistics.median(a - b for a, b in zip(outside_on, outside_off, strict=True)) / N
            base = statistics.median(off) / N
            print(
                f"{name:<30} call {base:7.1f} µs   recorded +{added:5.1f} µs/call"
                f"   outside a request +{fall:4.2f} µs/call"
            )

        # The part every hook shares (call site walk, atomic check, the call's dict), for comparison.
        def bare() -> None:
            call = begin_call("task", "bench")
            if call is not None:
                call.finish()

        core = [_time_request(client, bare) / N for _ in range(ROUNDS)]
        print(f"{'begin_call + finish alone':<30} {statistics.median(core):5.1f} µs/call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
