from __future__ import annotations

import json
import math

from async_audit.analyze.model import SCHEMA_VERSION, Report
from async_audit.report import JSONRenderer

ENDPOINT_KEYS = {
    "method",
    "route",
    "view",
    "count",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "over_budget",
    "over_user_budget",
    "deferrable_ms_p95",
    "projected_p95_ms",
}
FINDING_KEYS = {
    "id",
    "kind",
    "category",
    "disposition",
    "severity",
    "reason",
    "route",
    "view",
    "site",
    "count",
    "calls_per_request",
    "mean_ms",
    "p95_ms",
    "share_of_request",
    "savings_ms_per_request",
    "stub",
}


def test_is_the_report_contract(report: Report) -> None:
    data = json.loads(JSONRenderer().render(report))
    assert data == report.to_dict()
    assert data["schema"] == SCHEMA_VERSION == 1
    assert {"schema", "generated_at", "sources", "budgets", "endpoints", "findings"} <= set(data)
    assert all(ENDPOINT_KEYS <= set(e) for e in data["endpoints"])
    assert all(FINDING_KEYS <= set(f) for f in data["findings"])
    assert set(data["findings"][0]["site"]) == {"file", "line", "function"}
    assert {"backend", "task_name", "code"} <= set(data["findings"][0]["stub"])


def test_non_finite_numbers_become_null(report: Report) -> None:
    report.endpoints[0].p99_ms = math.inf
    report.findings[0].mean_ms = math.nan
    data = json.loads(JSONRenderer().render(report))  # strict JSON: no NaN or Infinity tokens
    assert data["endpoints"][0]["p99_ms"] is None
    assert data["findings"][0]["mean_ms"] is None


def test_markup_characters_are_unicode_escapes(hostile_report: Report) -> None:
    text = JSONRenderer().render(hostile_report)
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\\u003cscript\\u003e" in text
