from __future__ import annotations

import dataclasses

from async_audit.analyze.model import (
    Budgets,
    CallSite,
    Category,
    Disposition,
    Finding,
    FindingKind,
    Report,
    Severity,
    Sources,
)
from async_audit.scan.merge import merge_static


def _finding(kind: FindingKind, file: str, line: int, source: str) -> Finding:
    return Finding(
        id=f"{source}-{kind.value}-{line}",
        kind=kind,
        category=Category.EMAIL,
        disposition=Disposition.DEFER,
        severity=Severity.MEDIUM,
        reason="r",
        rule="builtin:email",
        method="POST",
        route="signup/",
        view="app.views.signup",
        site=CallSite(file, line, "signup"),
        count=3 if source == "recorded" else 1,
        requests=3,
        calls_per_request=1.0,
        mean_ms=900.0 if source == "recorded" else 0.0,
        p95_ms=0.0,
        share_of_request=0.5,
        savings_ms_per_request=0.0,
        source=source,
        evidence={"reaches_response": False} if source == "static" else {},
    )


def test_confirmed_missed_and_source_only() -> None:
    recorded = Report(
        "2026-01-01T00:00:00+00:00",
        Sources(notes=["recorded note"]),
        Budgets(),
        findings=[
            _finding(FindingKind.DEFER, "app/views.py", 10, "recorded"),
            _finding(FindingKind.DEFER, "lib/outside.py", 3, "recorded"),
            dataclasses.replace(
                _finding(FindingKind.TIMEOUT_RISK, "app/views.py", 1, "recorded"),
                site=CallSite(None, None, None),
            ),
        ],
    )
    static = Report(
        "2026-01-01T00:00:00+00:00",
        Sources(kind="static", source_root="/src/site"),
        Budgets(),
        findings=[
            _finding(FindingKind.DEFER, "app/views.py", 10, "static"),
            _finding(FindingKind.NO_TIMEOUT, "app/views.py", 20, "static"),
        ],
    )
    merged = merge_static(recorded, static)
    assert merged.sources.kind == "recorded+static"
    assert merged.sources.source_root == "/src/site"
    assert any("1 findings confirmed" in note for note in merged.sources.notes)
    by_key = {(f.kind, f.site.file, f.site.line): f for f in merged.findings}
    confirmed = by_key[(FindingKind.DEFER, "app/views.py", 10)]
    assert (confirmed.source, confirmed.confirmed, confirmed.evidence["static"]) == (
        "recorded",
        True,
        "confirmed",
    )
    assert confirmed.mean_ms == 900.0
    assert confirmed.evidence["static_reaches_response"] is False
    missed = by_key[(FindingKind.DEFER, "lib/outside.py", 3)]
    assert (missed.confirmed, missed.evidence["static"]) == (None, "missed")
    only_static = by_key[(FindingKind.NO_TIMEOUT, "app/views.py", 20)]
    assert (only_static.source, only_static.confirmed) == ("static", False)
    assert by_key[(FindingKind.TIMEOUT_RISK, None, None)].evidence == {}
    assert len(merged.findings) == 4
    assert [f.priority for f in merged.findings] == [1, 2, 3, 4]
    # The inputs are left alone.
    assert recorded.findings[0].confirmed is None and "static" not in recorded.findings[0].evidence


def test_public_api_is_pinned() -> None:
    import async_audit.scan as scan

    assert scan.__all__ == ["DEFAULT_MAX_DEPTH", "merge_static", "result_reaches_response", "scan_project"]
    assert scan.__all__ == sorted(scan.__all__)
