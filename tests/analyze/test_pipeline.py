"""The analysis end to end: records made by the real recorder, the call sites' source, the public API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import django
import pandas as pd
import pytest

import async_audit.analyze
from async_audit.analyze import AnalysisOptions, analyze, build_report, load_records, recordings_from_dicts
from async_audit.analyze import classify as classify_module
from async_audit.analyze.model import Budgets, CallSite, Category, Disposition, FindingKind
from tests.analyze.records import email, request, site, write

TESTS_ROOT = Path(__file__).resolve().parents[1]  # the test site's PROJECT_ROOTS


def test_public_api_is_pinned() -> None:
    names = async_audit.analyze.__all__
    assert sorted(names) == sorted(
        [
            "KNOWN_BUDGETS",
            "AnalysisOptions",
            "KnownBudget",
            "LoadStats",
            "Recordings",
            "analyze",
            "budgets_from_config",
            "build_report",
            "load_records",
            "parse_duration",
            "recordings_from_dicts",
        ]
    )
    for name in names:
        assert getattr(async_audit.analyze, name) is not None


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def _capture(port: int) -> list[dict[str, Any]]:
    from django.core import mail
    from django.test import Client, override_settings

    from async_audit.testing import capture_records

    client = Client()
    locmem = "django.core.mail.backends.locmem.EmailBackend"
    # Django 6.1 configures mail with MAILERS (and warns without it); earlier versions with EMAIL_BACKEND.
    mailer: dict[str, Any] = {"MAILERS": {"default": {"BACKEND": locmem}}} if hasattr(mail, "mailers") else {}
    # mail_admins sends nothing without ADMINS; Django 6 takes plain addresses, older versions pairs.
    mailer["ADMINS"] = ["ops@example.com"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.com")]
    with override_settings(**mailer), capture_records() as captured:
        for _ in range(3):
            assert client.get("/mail-tasks/send-mail/").status_code == 200
            assert client.get("/mail-tasks/admins/").status_code == 200
            assert client.get(f"/http/requests/?port={port}&method=POST").status_code == 200
    return list(captured)


def test_records_of_the_real_recorder(tmp_path: Path, api_port: int) -> None:
    captured = _capture(api_port)
    path = write(tmp_path / "async-audit-test-1-1.jsonl", captured)
    report = build_report([path], AnalysisOptions())
    assert report.sources.records == 9 and report.sources.skipped_lines == 0
    routes = {e.route: e for e in report.endpoints}
    assert set(routes) == {"mail-tasks/send-mail/", "mail-tasks/admins/", "http/requests/"}
    assert all(e.count == 3 for e in report.endpoints)

    by_route = {(f.route, f.kind): f for f in report.findings}
    mail_finding = by_route[("mail-tasks/send-mail/", FindingKind.DEFER)]
    assert (mail_finding.category, mail_finding.rule) == (Category.EMAIL, "builtin:email")
    assert mail_finding.site.file == "site/mail_task_views.py" and mail_finding.site.function == "send_one"
    assert (mail_finding.count, mail_finding.requests) == (3, 3)
    webhook = by_route[("http/requests/", FindingKind.DEFER)]
    assert (webhook.category, webhook.rule, webhook.target) == (
        Category.API_WRITE,
        "builtin:http-write",
        "127.0.0.1",
    )
    assert by_route[("http/requests/", FindingKind.NO_TIMEOUT)].no_timeout_rate == 1.0
    # the same records, in memory, give the same findings
    again = analyze(recordings_from_dicts(captured), AnalysisOptions())
    assert [f.id for f in again.findings] == [f.id for f in report.findings]


def test_the_call_sites_source_decides_interactivity(api_port: int) -> None:
    try:
        from async_audit.scan.dataflow import result_reaches_response  # noqa: F401
    except (
        Exception
    ) as exc:  # the scanner is another stage: its absence or breakage is its own tests' business
        pytest.skip(f"async_audit.scan.dataflow cannot be imported: {type(exc).__name__}: {exc}")
    rec = recordings_from_dicts(_capture(api_port))
    report = analyze(rec, AnalysisOptions(source_root=TESTS_ROOT))
    emails = {f.route: f for f in report.findings if f.category is Category.EMAIL}
    # send_one returns JsonResponse({"sent": sent}); admins calls mail_admins as a bare statement.
    assert emails["mail-tasks/send-mail/"].kind is FindingKind.KEEP_SYNC
    assert "response uses" in emails["mail-tasks/send-mail/"].reason
    assert emails["mail-tasks/admins/"].kind is FindingKind.DEFER
    assert emails["mail-tasks/admins/"].evidence["decided_by"] == "source"
    assert "--source-root" not in emails["mail-tasks/admins/"].reason
    assert report.sources.source_root == str(TESTS_ROOT)


def test_source_verdicts_change_dispositions_and_projections(monkeypatch: pytest.MonkeyPatch) -> None:
    used, unused = site("shop/views.py", 10, "signup"), site("shop/views.py", 20, "signup")
    seen: list[CallSite] = []

    def reaches(root: Path, call_site: CallSite) -> bool | None:
        seen.append(call_site)
        return call_site.line == 10

    monkeypatch.setattr(classify_module, "_reaches_function", lambda: reaches)
    rec = recordings_from_dicts(
        [request(1000.0, [email(0.0, 300.0, at=used), email(300.0, 200.0, at=unused)])]
    )
    report = analyze(rec, AnalysisOptions(source_root=Path("/nonexistent")))
    assert sorted(s.line or 0 for s in seen) == [10, 20]
    assert report.endpoints[0].projected_p50_ms == pytest.approx(800.0)
    kinds = {f.site.line: (f.kind, f.disposition) for f in report.findings}
    assert kinds == {
        10: (FindingKind.KEEP_SYNC, Disposition.KEEP_SYNC),
        20: (FindingKind.DEFER, Disposition.DEFER),
    }


def test_without_source_the_report_says_how_it_decided(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", [request(100.0, [email(0.0, 50.0)])])
    report = build_report([path], AnalysisOptions())
    assert any("--source-root" in note for note in report.sources.notes)
    json.dumps(report.to_dict())


def test_budgets_come_from_the_project_config(tmp_path: Path) -> None:
    (tmp_path / "async-audit.toml").write_text('budget = "100ms"\nuser_budget = "50ms"\n')
    rec = load_records([write(tmp_path / "r.jsonl", [request(150.0), request(60.0)])])
    report = analyze(rec, AnalysisOptions(config_file=tmp_path / "async-audit.toml"))
    assert (report.budgets.platform_ms, report.budgets.user_ms) == (100.0, 50.0)
    (endpoint,) = report.endpoints
    assert (endpoint.over_budget, endpoint.over_user_budget) == (1, 2)


def test_analysis_leaves_the_recordings_unchanged() -> None:
    stripe = {"via": "stripe", "host": "api.stripe.com"}
    rec = recordings_from_dicts(
        [request(500.0, [email(0.0, 300.0), email(10.0, 200.0, parent=0, **stripe)]), request(90.0)]
    )
    requests, calls = rec.requests.copy(), rec.calls.copy()
    analyze(rec, AnalysisOptions())
    pd.testing.assert_frame_equal(rec.requests, requests)
    pd.testing.assert_frame_equal(rec.calls, calls)


def test_budgets_given_explicitly_win_over_the_config_field_by_field(tmp_path: Path) -> None:
    config = tmp_path / "async-audit.toml"
    config.write_text('budget = "100ms"\nuser_budget = "50ms"\n')
    rec = recordings_from_dicts([request(150.0)])
    given = Budgets(platform_ms=120.0, platform_name="--budget")
    report = analyze(rec, AnalysisOptions(budgets=given, config_file=config))
    assert (report.budgets.platform_ms, report.budgets.platform_name, report.budgets.user_ms) == (
        120.0,
        "--budget",
        50.0,
    )
