"""End to end: the generated patch on a copy of the sample site, run with a real django-tasks-db worker.

The site is recorded under gunicorn with the stand-in services answering in tens of milliseconds; the
analysis writes the stubs for Django's tasks; a copy of the site gets the task modules and the patch, as a
team would apply them, and queues its tasks in the database for ``manage.py db_worker``. The same traffic,
recorded again, must be faster where the work moved, show only enqueues where the slow calls were, and the
worker must still deliver every email, search document, CRM deal and Slack message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import runner
from async_audit.analyze import AnalysisOptions, build_report
from async_audit.analyze.model import Endpoint, Report
from async_audit.extract import PATCH_NAME, write_stubs
from services import Latency, ServiceStack
from traffic import TrafficResult, drive, tour

pytest.importorskip("django_tasks_db")  # Python 3.12 and later: absent from the oldest supported stack

pytestmark = pytest.mark.e2e

# Short but well above the noise of one request: the moved calls must be what the p95 is made of.
LATENCY = {
    "smtp": Latency(ms=90, jitter_ms=5),
    "crm": Latency(ms=60, jitter_ms=5),
    "stripe": Latency(ms=40, jitter_ms=5),
    "elasticsearch": Latency(ms=60, jitter_ms=5),
    "slack": Latency(ms=90, jitter_ms=5),
}
MIX = {"signup": 1.0, "invoice": 1.0}
STEPS = 24
SIGNUP = ("POST", "accounts/signup/")
INVOICE = ("POST", "billing/invoices/new/")
DELIVERY_DEADLINE = 45.0


@dataclass
class Run:
    """One recording of the site: what was played, what was recorded, what the services received."""

    traffic: TrafficResult
    records: list[dict[str, Any]]  # the measured traffic only, after the warm-up tour
    report: Report
    welcome_to: list[str]  # recipients of the welcome emails
    crm_contacts: list[str]  # their emails
    crm_deals: int
    slack_messages: int
    search_documents: int
    worker_log: str

    def requests(self, method: str, route: str) -> list[dict[str, Any]]:
        return [r for r in self.records if (r["method"], r["route"]) == (method, route)]

    def endpoint(self, method: str, route: str) -> Endpoint:
        (found,) = [e for e in self.report.endpoints if (e.method, e.route) == (method, route)]
        return found


@dataclass
class EndToEnd:
    before: Run
    after: Run
    patch: str
    written: list[Path]
    site: Path


def _posts(traffic: TrafficResult, path: str) -> int:
    return traffic.requests[f"POST {path}"]


def _measured(records_dir: Path, since: float, into: Path) -> list[dict[str, Any]]:
    """The records of requests started at ``since`` or later, also written to ``into`` for the analysis."""
    kept = []
    into.mkdir()
    with open(into / "async-audit-measured.jsonl", "w", encoding="utf-8") as out:
        for path in sorted(records_dir.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                if record["ts"] >= since:
                    kept.append(record)
                    out.write(line + "\n")
    return kept


def _record(app_dir: Path, work: Path, *, worker: bool) -> Run:
    """Play the tour (every planted case, and a warm site), then the measured mix; stop; analyse."""
    records_dir = work / "records"
    with ServiceStack(LATENCY, seed=7) as stack:
        environ = stack.environ()
        if worker:
            environ["LEDGERLY_TASKS_BACKEND"] = "db"
        site = runner.Site(
            environ,
            workdir=work,
            audit_dir=records_dir,
            wsgi_workers=1,  # one process: the tour warms every page and template it serves
            wsgi_threads=4,
            asgi=False,
            app_dir=app_dir,
            db_worker=worker,
        )
        with site:
            warmup = tour(site.wsgi_url, seed=7)
            measured_from = time.time()
            traffic = drive(site.wsgi_url, steps=STEPS, concurrency=2, mix=MIX, seed=7)
            signups = _posts(warmup, "/accounts/signup/") + _posts(traffic, "/accounts/signup/")
            invoices = _posts(warmup, "/billing/invoices/new/") + _posts(traffic, "/billing/invoices/new/")
            # The worker delivers after the responses: wait for all of it, within a deadline.
            deadline = time.monotonic() + DELIVERY_DEADLINE
            while True:
                welcome = [m for m in stack.smtp.messages if m.subject.startswith("Welcome to Ledgerly")]
                documents = sum(len(docs) for docs in stack.elasticsearch.indices.values())
                delivered = (len(welcome), len(stack.crm.deals), len(stack.slack.messages), documents)
                expected = (signups, invoices, invoices, signups)
                if all(map(int.__ge__, delivered, expected)) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            worker_log = site.servers["db_worker"].log_tail(400) if worker else ""
        traffic.errors.extend(warmup.errors)
        contacts = [c["properties"]["email"] for c in stack.crm.contacts.values()]
    # Only the measured traffic counts: the tour's first requests compile templates and open connections.
    records = _measured(records_dir, measured_from, work / "measured")
    return Run(
        traffic=traffic,
        records=records,
        report=build_report([work / "measured"], AnalysisOptions(source_root=app_dir)),
        welcome_to=[to for m in welcome for to in m.rcpt_tos],
        crm_contacts=contacts,
        crm_deals=delivered[1],
        slack_messages=delivered[2],
        search_documents=documents,
        worker_log=worker_log,
    )


def _install(out: Path, site: Path, written: list[Path]) -> None:
    """The task modules and commands go to the project's paths; the call sites change by ``git apply``."""
    for path in written:
        rel = path.relative_to(out.resolve())
        if path.suffix == ".py":
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, site / rel)
    for args in (["--check"], []):
        applied = subprocess.run(
            ["git", "apply", *args, str(out / PATCH_NAME)], cwd=site, capture_output=True, text=True
        )
        assert applied.returncode == 0, applied.stderr


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndToEnd]:
    base = tmp_path_factory.mktemp("extract-e2e")
    site = base / "ledgerly"
    shutil.copytree(
        runner.SAMPLE_APP_DIR, site, ignore=shutil.ignore_patterns("__pycache__", "var", "*.sqlite3")
    )
    before = _record(site, base / "before", worker=False)

    out = base / "stubs"
    recorded = build_report([base / "before" / "records"], AnalysisOptions(source_root=site))
    written = write_stubs(recorded, "django_tasks", out, site)
    patch = (out / PATCH_NAME).read_text(encoding="utf-8")
    _install(out, site, written)

    after = _record(site, base / "after", worker=True)
    yield EndToEnd(before, after, patch, written, site)


def test_the_patch_applies_and_the_patched_copy_serves_without_errors(e2e: EndToEnd) -> None:
    changed = {line[len("+++ b/") :] for line in e2e.patch.splitlines() if line.startswith("+++ b/")}
    assert {"accounts/views.py", "billing/views.py", "billing/signals.py"} <= changed
    assert (e2e.site / "accounts" / "tasks.py").is_file()
    assert any(p.name.startswith("run_signup_") for p in e2e.written)
    for run in (e2e.before, e2e.after):
        assert run.traffic.errors == []
        assert all(200 <= r["status"] < 400 for r in run.records), [r["status"] for r in run.records]


def test_signup_and_invoice_p95_are_lower_with_the_work_in_the_worker(e2e: EndToEnd) -> None:
    figures = {}
    for method, route in (SIGNUP, INVOICE):
        before, after = e2e.before.endpoint(method, route), e2e.after.endpoint(method, route)
        assert before.count >= 3 and after.count >= 3
        figures[route] = (round(before.p95_ms), round(after.p95_ms))
    print(f"p95 ms before -> after: {figures}")  # shown by pytest -rP
    assert all(after < before for before, after in figures.values()), figures


def _top_level(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in record["calls"] if c["parent"] is None]


def test_the_moved_calls_are_enqueues_in_the_new_records(e2e: EndToEnd) -> None:
    for record in e2e.before.requests(*SIGNUP):
        kinds = [(c["kind"], c.get("via") or "") for c in _top_level(record)]
        assert ("email", "") in kinds and ("http", "elasticsearch") in kinds
    for record in e2e.after.requests(*SIGNUP):
        calls = _top_level(record)
        assert not [c for c in calls if c["kind"] == "email" or c.get("via") == "elasticsearch"]
        tasks = {c["task"] for c in calls if c["kind"] == "task"}
        assert tasks == {"accounts.tasks.signup_send_mail", "accounts.tasks.signup_index_business"}
        # The CRM contact's id is saved on the organization, so it stays in the request (a snippet).
        assert [c["via"] for c in calls if c["kind"] == "http"] == ["requests"]

    for record in e2e.before.requests(*INVOICE):
        assert len([c for c in _top_level(record) if c["kind"] == "http"]) == 2
    for record in e2e.after.requests(*INVOICE):
        calls = _top_level(record)
        assert [c for c in calls if c["kind"] == "http"] == []
        assert {c["task"] for c in calls if c["kind"] == "task"} == {
            "billing.deferred_tasks.invoice_create_record_deal",
            "billing.deferred_tasks.notify_sales_channel_post",
        }
        enqueues = [c for c in calls if c["kind"] == "task"]
        assert all(c["backend"].startswith("django_tasks_db.") and not c["inline"] for c in enqueues)


def test_the_worker_still_delivers_every_email_document_deal_and_message(e2e: EndToEnd) -> None:
    run = e2e.after
    signups = len(e2e.after.requests(*SIGNUP)) + 1  # and the tour's
    invoices = len(e2e.after.requests(*INVOICE)) + 1
    assert "state=FAILED" not in run.worker_log
    assert len(run.welcome_to) == signups, run.worker_log
    assert sorted(run.welcome_to) == sorted(run.crm_contacts)  # each new account: its email and its contact
    assert run.search_documents == signups
    assert (run.crm_deals, run.slack_messages) == (invoices, invoices)
    # The same deliveries as before the change.
    before = e2e.before
    assert (len(before.welcome_to), before.crm_deals, before.slack_messages) == (
        len(before.crm_contacts),
        len(before.requests(*INVOICE)) + 1,
        len(before.requests(*INVOICE)) + 1,
    )
