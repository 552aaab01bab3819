"""Every figure here is computed by hand from the records (percentiles interpolate linearly)."""

from __future__ import annotations

import pytest

from async_audit.analyze import AnalysisOptions, analyze, recordings_from_dicts
from async_audit.analyze.model import Budgets, Category, Disposition, FindingKind, Report, Severity
from tests.analyze.records import call, email, http, request, site

T0 = 1_764_300_000.0
STRIPE = {"via": "stripe", "host": "api.stripe.com", "path": "/v1/charges"}


def checkout_report(**options: object) -> Report:
    mail_site, pay_site = site("shop/views.py", 20, "checkout"), site("shop/views.py", 30, "checkout")
    records = [
        request(
            1000.0, [email(100.0, 300.0, at=mail_site), http(500.0, 200.0, at=pay_site, **STRIPE)], ts=T0
        ),
        request(
            2000.0, [email(0.0, 500.0, at=mail_site), http(600.0, 400.0, at=pay_site, **STRIPE)], ts=T0 + 10
        ),
        request(500.0, [email(50.0, 100.0, at=mail_site)], ts=T0 + 20),
        request(4000.0, [], ts=T0 + 30),
    ]
    budgets = Budgets(platform_ms=3000.0, platform_name="test", user_ms=1000.0)
    return analyze(recordings_from_dicts(records), AnalysisOptions(budgets=budgets, workers=4, **options))  # type: ignore[arg-type]


def test_endpoint_statistics_and_projection() -> None:
    report = checkout_report()
    (endpoint,) = report.endpoints
    assert (endpoint.method, endpoint.route, endpoint.view, endpoint.count) == (
        "POST",
        "shop/checkout/",
        "shop.views.checkout",
        4,
    )
    # ms sorted 500, 1000, 2000, 4000
    assert endpoint.p50_ms == pytest.approx(1500.0)
    assert endpoint.p95_ms == pytest.approx(2000.0 + 0.85 * 2000.0)
    assert endpoint.p99_ms == pytest.approx(2000.0 + 0.97 * 2000.0)
    assert endpoint.max_ms == 4000.0
    assert (endpoint.over_budget, endpoint.over_user_budget) == (1, 2)
    # deferrable (the emails) 300, 500, 100, 0 -> sorted 0, 100, 300, 500
    assert endpoint.deferrable_ms_p50 == pytest.approx(200.0)
    assert endpoint.deferrable_ms_p95 == pytest.approx(300.0 + 0.85 * 200.0)
    # projected 700, 1500, 400, 4000 -> sorted 400, 700, 1500, 4000
    assert endpoint.projected_p50_ms == pytest.approx(1100.0)
    assert endpoint.projected_p95_ms == pytest.approx(1500.0 + 0.85 * 2500.0)
    assert endpoint.projected_p99_ms == pytest.approx(1500.0 + 0.97 * 2500.0)
    assert endpoint.time_by_category == pytest.approx({"email": 900.0 / 4, "payment": 600.0 / 4})
    assert endpoint.example_request_id == report.examples[0].id


def test_defer_and_keep_sync_findings() -> None:
    report = checkout_report()
    defer = next(f for f in report.findings if f.kind is FindingKind.DEFER)
    assert (defer.category, defer.disposition, defer.rule) == (
        Category.EMAIL,
        Disposition.DEFER,
        "builtin:email",
    )
    assert (defer.site.file, defer.site.line, defer.site.function) == ("shop/views.py", 20, "checkout")
    assert (defer.count, defer.requests, defer.calls_per_request) == (3, 3, 1.0)
    assert defer.mean_ms == pytest.approx(300.0)
    assert defer.p95_ms == pytest.approx(300.0 + 0.9 * 200.0)  # 100, 300, 500
    assert defer.share_of_request == pytest.approx((0.3 + 0.25 + 0.2) / 3)
    assert defer.savings_ms_per_request == pytest.approx(300.0)
    assert defer.evidence["total_savings_ms"] == pytest.approx(900.0)
    assert "--source-root" in defer.reason
    assert defer.priority == 1
    # p95 2000 > 1 s budget, projected p95 3625 is not under it; savings 300 >= 200
    assert defer.severity is Severity.MEDIUM

    keep = next(f for f in report.findings if f.kind is FindingKind.KEEP_SYNC)
    assert (keep.category, keep.rule, keep.via, keep.target) == (
        Category.PAYMENT,
        "builtin:stripe",
        "stripe",
        "api.stripe.com",
    )
    assert keep.p95_ms == pytest.approx(200.0 + 0.95 * 200.0)
    assert keep.savings_ms_per_request == 0.0
    assert "revenue" in keep.reason


def test_timeout_risk_capacity_and_examples() -> None:
    report = checkout_report()
    risk = next(f for f in report.findings if f.kind is FindingKind.TIMEOUT_RISK)
    assert risk.severity is Severity.CRITICAL
    assert risk.evidence["over_budget"] == 1 and risk.evidence["over_half_budget"] == 2
    assert risk.example_request_id == report.examples[0].id

    capacity = report.capacity
    assert capacity is not None
    assert capacity.window_s == pytest.approx(34.0)  # first start to last end (T0 + 30 + 4 s)
    assert capacity.worker_s_total == pytest.approx(7.5)
    assert capacity.worker_s_deferrable == pytest.approx(0.9)
    assert capacity.busy_workers_now == pytest.approx(7.5 / 34.0)
    assert capacity.busy_workers_after == pytest.approx(6.6 / 34.0)
    assert capacity.share_freed == pytest.approx(0.12)
    assert capacity.workers == 4
    assert capacity.capacity_freed == pytest.approx((7.5 - 6.6) / 34.0 / 4)

    (example,) = report.examples
    assert example.ms == 4000.0 and example.projected_ms == 4000.0 and example.calls == []


def test_priority_follows_measured_savings_and_ids_are_stable() -> None:
    first, second = checkout_report(), checkout_report()
    assert [f.id for f in first.findings] == [f.id for f in second.findings]
    assert len({f.id for f in first.findings}) == len(first.findings)
    assert [f.priority for f in first.findings] == list(range(1, len(first.findings) + 1))
    assert [f.kind for f in first.findings] == [
        FindingKind.DEFER,
        FindingKind.TIMEOUT_RISK,
        FindingKind.KEEP_SYNC,
    ]


def test_overlapping_calls_are_never_counted_twice() -> None:
    # http (defer) covers 0-60, sql (keep) covers 30-80: 20 ms belong to the SQL alone.
    rec = recordings_from_dicts([request(100.0, [http(0.0, 60.0), call("sql", 30.0, 50.0)])])
    report = analyze(rec, AnalysisOptions())
    (endpoint,) = report.endpoints
    assert endpoint.time_by_category == pytest.approx({"api_write": 60.0, "sql": 20.0})
    assert endpoint.deferrable_ms_p50 == pytest.approx(30.0)  # 0-30 is covered only by the webhook
    assert endpoint.projected_p50_ms == pytest.approx(70.0)


def test_nested_calls_count_through_their_top_level_call() -> None:
    api = {"via": "sendgrid", "host": "api.sendgrid.com", "path": "/v3/mail/send"}
    records = [request(500.0, [email(0.0, 200.0), http(10.0, 150.0, parent=0, **api)])]
    report = analyze(recordings_from_dicts(records), AnalysisOptions())
    (endpoint,) = report.endpoints
    assert endpoint.time_by_category == pytest.approx({"email": 200.0})
    assert endpoint.projected_p50_ms == pytest.approx(300.0)
    defers = [f for f in report.findings if f.kind is FindingKind.DEFER]
    assert [f.category for f in defers] == [Category.EMAIL]
    waterfall = report.examples[0].calls
    assert [(c.kind, c.depth) for c in waterfall] == [("email", 0), ("http", 1)]
    assert waterfall[1].label == "POST api.sendgrid.com/v3/mail/send"


def test_a_payment_inside_a_deferrable_call_keeps_it_synchronous() -> None:
    records = [
        request(500.0, [http(0.0, 300.0, host="orders.example.com"), http(10.0, 200.0, parent=0, **STRIPE)])
    ]
    report = analyze(recordings_from_dicts(records), AnalysisOptions())
    assert report.endpoints[0].projected_p50_ms == 500.0
    keep = [f for f in report.findings if f.kind is FindingKind.KEEP_SYNC]
    assert keep[0].target == "orders.example.com" and "payment" in keep[0].reason


def test_batch_fake_async_and_no_timeout() -> None:
    loop = site("shop/crm.py", 7, "push_all")
    records = [
        request(
            1000.0,
            [
                http(0.0, 100.0, at=loop, timeout=None),
                http(100.0, 100.0, at=loop, timeout=None),
                http(200.0, 100.0, at=loop, timeout=None),
                call("task", 400.0, 250.0, inline=True, at=site("shop/views.py", 50, "checkout")),
            ],
        ),
        request(
            600.0,
            [
                http(0.0, 100.0, at=loop),
                call("task", 100.0, 150.0, inline=True, at=site("shop/views.py", 50, "checkout")),
            ],
        ),
    ]
    report = analyze(recordings_from_dicts(records), AnalysisOptions())
    by_kind = {f.kind: f for f in report.findings}
    batch = by_kind[FindingKind.BATCH]
    assert (batch.count, batch.requests, batch.calls_per_request) == (4, 2, 2.0)
    assert batch.savings_ms_per_request == pytest.approx(100.0)  # (2 - 1) x 100 ms
    assert batch.evidence["max_calls_per_request"] == 3

    fake = by_kind[FindingKind.FAKE_ASYNC]
    assert fake.savings_ms_per_request == pytest.approx(200.0)  # 250 and 150
    assert fake.disposition is Disposition.DEFERRED
    # the inline enqueues count as deferrable: 300 + 250 and 100 + 150
    assert report.endpoints[0].projected_p50_ms == pytest.approx((450.0 + 350.0) / 2)

    no_timeout = by_kind[FindingKind.NO_TIMEOUT]
    assert no_timeout.no_timeout_rate == pytest.approx(0.75)
    assert no_timeout.severity is Severity.LOW


def test_unresolved_routes_form_their_own_endpoint() -> None:
    rec = recordings_from_dicts([request(10.0, route=None, method="GET"), request(20.0)])
    report = analyze(rec, AnalysisOptions())
    assert {(e.method, e.route) for e in report.endpoints} == {("GET", None), ("POST", "shop/checkout/")}


def test_errors_and_atomic_are_reported() -> None:
    records = [
        request(500.0, [http(0.0, 100.0, error="ConnectionError", atomic=True)]),
        request(500.0, [http(0.0, 100.0)]),
    ]
    (finding,) = [
        f
        for f in analyze(recordings_from_dicts(records), AnalysisOptions()).findings
        if f.kind is FindingKind.DEFER
    ]
    assert finding.error_rate == 0.5 and finding.atomic is True
    assert "1 of 2 calls failed" in finding.reason and "on_commit" in finding.reason


def test_report_json_is_plain() -> None:
    import json

    data = json.loads(json.dumps(checkout_report().to_dict()))
    assert data["endpoints"][0]["projected_p95_ms"] == pytest.approx(3625.0)
    assert data["findings"][0]["kind"] == "defer"
