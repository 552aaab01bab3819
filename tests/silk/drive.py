"""Drive the silk test site in this process: ``python -m tests.silk.drive RESULT.json``.

Migrates, makes the requests below through the real middlewares (Django's test client), and writes what
async-audit recorded (``async_audit.testing.capture_records``) to RESULT.json; with a second argument, runs
``manage.py async_audit import-silk --out`` it. Settings come from the environment (tests/silk/settings.py).
"""

from __future__ import annotations

import json
import os
import sys

REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("POST", "/notes/", {"text": "alpha secret-body-text"}),  # JSON: silk keeps the body
    ("POST", "/notes/", {"text": "another note"}),
    ("GET", "/notes/", {}),
    ("GET", "/orders/4242/?email=alice@example.com&token=sk_live_abcdef123456", {}),
    ("GET", "/profiled/", {}),
    ("GET", "/profiled/", {}),
    ("GET", "/killed/", {}),
]


def main(result_path: str, import_to: str | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.silk.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from async_audit.testing import capture_records
    from tests.silk.views import WorkerKilled

    call_command("migrate", run_syncdb=True, verbosity=0)
    client = Client(HTTP_AUTHORIZATION="Bearer sk_live_abcdef123456", HTTP_X_CUSTOMER="header-secret-xyz")
    killed = 0
    with capture_records() as records:
        for method, path, data in REQUESTS:
            try:
                if method == "POST":
                    client.post(path, data, content_type="application/json")
                else:
                    client.get(path)
            except WorkerKilled:
                killed += 1
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump({"records": list(records), "killed": killed}, fh)
    if import_to:
        # manage.py async_audit import-silk, inside the site: silk's database and the site's URLconf.
        call_command("async_audit", "import-silk", "--out", import_to, "--slow-sql-ms", "0")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
