"""Invariants over generated records: projections never exceed measurements, totals never exceed requests,
and no input, however malformed, ends in a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from async_audit.analyze import AnalysisOptions, analyze, load_records, recordings_from_dicts
from async_audit.analyze.classify import classify_calls, mark_deferrable, resolve_nesting
from async_audit.analyze.timeline import exclusive_time, retime
from async_audit.errors import AsyncAuditError
from async_audit.rules import load_rules
from tests.analyze.records import call, request, site

RULES = load_rules()
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

durations = st.floats(min_value=0.0, max_value=50_000.0, allow_nan=False)
hosts = st.sampled_from(["api.stripe.com", "hooks.slack.com", "partner.example.com", "es.internal"])


@st.composite
def calls(draw: st.DrawFn, request_ms: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["http", "email", "sql", "task", "block"]))
        parent = draw(st.one_of(st.none(), st.integers(0, n - 1))) if n else None
        extra: dict[str, Any] = {}
        if kind == "http":
            extra = {
                "host": draw(hosts),
                "method": draw(st.sampled_from(["GET", "POST", "PUT"])),
                "timeout": draw(st.one_of(st.none(), st.just(5.0))),
            }
        elif kind == "task":
            extra = {"inline": draw(st.booleans())}
        at = site("app/views.py", draw(st.integers(1, 4)), "view")
        t = draw(st.floats(0.0, request_ms * 1.5 + 1, allow_nan=False))
        out.append(call(kind, t, draw(durations), parent=parent, at=at, **extra))
    return out


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 8))):
        ms = draw(durations)
        out.append(
            request(
                ms,
                draw(calls(ms)),
                route=draw(st.sampled_from(["a/", "b/", None])),
                method=draw(st.sampled_from(["GET", "POST"])),
                ts=1_764_300_000.0 + draw(st.floats(0, 3600, allow_nan=False)),
            )
        )
    return out


@FAST
@given(records())
def test_projected_never_exceeds_measured(items: list[dict[str, Any]]) -> None:
    report = analyze(recordings_from_dicts(items), AnalysisOptions(rules=RULES))
    for e in report.endpoints:
        assert e.projected_p50_ms <= e.p50_ms + 1e-6
        assert e.projected_p95_ms <= e.p95_ms + 1e-6
        assert e.projected_p99_ms <= e.p99_ms + 1e-6
        assert 0.0 <= e.deferrable_ms_p95 <= e.max_ms + 1e-6
    for example in report.examples:
        assert 0.0 <= example.projected_ms <= example.ms + 1e-6
    capacity = report.capacity
    assert capacity is not None and 0.0 <= capacity.share_freed <= 1.0


@FAST
@given(records())
def test_category_totals_never_exceed_the_request(items: list[dict[str, Any]]) -> None:
    rec = recordings_from_dicts(items)
    calls_frame = (
        rec.calls.pipe(classify_calls, RULES)
        .pipe(resolve_nesting)
        .pipe(mark_deferrable)
        .pipe(exclusive_time, rec.requests)
    )
    requests = retime(rec.requests, calls_frame)
    per_request = np.bincount(calls_frame["req"], weights=calls_frame["excl_ms"], minlength=len(requests))
    assert (per_request <= requests["ms"].to_numpy() + 1e-6).all()
    assert (requests["projected_ms"] <= requests["ms"] + 1e-6).all()
    assert (requests["projected_ms"] >= 0).all()
    report = analyze(rec, AnalysisOptions(rules=RULES))
    for e in report.endpoints:
        mean_ms = float(rec.requests.loc[_endpoint(rec.requests, e.method, e.route), "ms"].mean())
        assert sum(e.time_by_category.values()) <= mean_ms + 1e-6


def _endpoint(frame: Any, method: str, route: str | None) -> Any:
    same_method = frame["method"].astype(object) == method
    routes = frame["route"].astype(object)
    return same_method & (routes.isna() if route is None else routes == route)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def damaged_lines(draw: st.DrawFn) -> list[bytes]:
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        choice = draw(st.integers(0, 4))
        if choice == 0:
            lines.append(draw(st.binary(max_size=40)).replace(b"\n", b" "))
        elif choice == 1:
            lines.append(json.dumps(draw(json_values)).encode())
        else:
            record = request(draw(durations), draw(calls(100.0)))
            for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=3)):
                record[key] = draw(json_values)
            for c in record["calls"] if isinstance(record.get("calls"), list) else []:
                if isinstance(c, dict) and c and draw(st.booleans()):
                    c[draw(st.sampled_from(sorted(c)))] = draw(json_values)
            text = json.dumps(record).encode()
            lines.append(text[: draw(st.integers(0, len(text)))] if choice == 4 else text)
    return lines


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(damaged_lines())
def test_malformed_input_never_raises_anything_but_a_clean_error(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(b"\n".join(lines))
    try:
        rec = load_records([path])
    except AsyncAuditError as exc:
        assert "\n" not in str(exc)
        return
    report = analyze(rec, AnalysisOptions(rules=RULES))
    json.dumps(report.to_dict())
    assert rec.stats.records + rec.stats.skipped_lines <= len(lines)
