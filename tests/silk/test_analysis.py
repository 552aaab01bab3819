"""How the analyzer reads silk-imported records: the source kind, the notes, and unfinished requests."""

from __future__ import annotations

from typing import Any

from async_audit.analyze import AnalysisOptions, analyze, recordings_from_dicts
from async_audit.analyze.model import Budgets


def record(n: int, proto: str, status: int, ms: float, route: str = "orders/") -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"{n:016x}",
        "ts": 1795827600.0 + n,
        "host": None if proto == "silk" else "web-1",
        "pid": None if proto == "silk" else 7,
        "proto": proto,
        "method": "GET",
        "route": route,
        "view": "orders",
        "status": status,
        "ms": ms,
        "cpu_ms": None,
        "db": {"n": 1, "ms": 1.0},
        "dropped": 0,
        "unsampled": 0,
        "lost": {"queue": 0, "write": 0},
        "calls": [],
    }


def test_unfinished_requests_count_over_every_budget_and_run_to_it() -> None:
    records = [record(n, "silk", 200, 100.0) for n in range(9)] + [record(9, "silk", 0, 2.0)]
    report = analyze(recordings_from_dicts(records), AnalysisOptions(budgets=Budgets(platform_ms=20_000.0)))
    (endpoint,) = report.endpoints
    assert endpoint.over_budget == 1 and endpoint.over_user_budget == 1
    assert endpoint.max_ms == 20_000.0  # taken to have run until the platform budget
    assert report.sources.kind == "silk"
    assert any("1 request silk never finished" in n for n in report.sources.notes)
    assert not any("masked" in n for n in report.sources.notes)


def test_mixed_sources_and_masked_routes() -> None:
    records = [record(0, "wsgi", 200, 10.0), record(1, "silk", 200, 10.0, route="/orders/{id}/")]
    report = analyze(recordings_from_dicts(records), AnalysisOptions())
    assert report.sources.kind == "recorded+silk"
    assert any("no outbound HTTP" in n for n in report.sources.notes)
    assert any("1 silk request has no URL pattern" in n for n in report.sources.notes)


def test_recorded_only_is_unchanged() -> None:
    report = analyze(recordings_from_dicts([record(0, "wsgi", 200, 10.0)]), AnalysisOptions())
    assert report.sources.kind == "recorded"
    assert not any("silk" in n for n in report.sources.notes)
    assert report.endpoints[0].over_budget == 0
