"""Drive the shop once: a signup through Django's test client, then a task's management command.

Run with SHOP_BACKEND (the task backend, configured in its synchronous or test mode by shop.settings),
SHOP_SMTP_PORT (a local SMTP server) and SHOP_DB; the command to run and its arguments follow on the command
line. Dramatiq has no inline mode: its StubBroker is drained by a real worker in this process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
BACKEND = os.environ["SHOP_BACKEND"]


def main(argv: list[str]) -> int:
    broker = None
    if BACKEND == "dramatiq":
        import dramatiq
        from dramatiq.brokers.stub import StubBroker

        broker = StubBroker()
        broker.emit_after("process_boot")
        dramatiq.set_broker(broker)
    if BACKEND == "celery":
        from celery import Celery

        app = Celery("shop")
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.set_default()

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", run_syncdb=True, verbosity=0)
    response = Client().post(
        "/signup/",
        {"username": "ada", "email": "ada@example.com", "first_name": "Ada", "team": "Engines"},
    )
    if response.status_code != 302:
        print(f"signup answered {response.status_code}", file=sys.stderr)
        return 1
    worker = None
    if broker is not None:
        from dramatiq import Worker

        worker = Worker(broker, worker_timeout=50)
        worker.start()
    try:
        drain(broker, worker)
        if argv:
            call_command(*argv)
            drain(broker, worker)
    finally:
        if worker is not None:
            worker.stop()
    return 0


def drain(broker: Any, worker: Any) -> None:
    if broker is not None:
        broker.join("default", fail_fast=True)
        worker.join()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
