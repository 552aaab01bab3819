"""What the people's formats (HTML, Markdown) say about a report, worked out once for both.

The report model holds the figures; this module orders and groups them the way a reader needs them: the top
candidates, each endpoint's projected p95 gain, the budget breaches, the refactor plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from async_audit.analyze.model import (
    Category,
    Disposition,
    Endpoint,
    Finding,
    FindingKind,
    Report,
    Severity,
)
from async_audit.report.formatting import (
    category_label,
    category_noun,
    endpoint_label,
    fmt_ms,
    fmt_pct,
    one_line,
    site_label,
)

#: Differences below this are noise in a projection, not a gain worth a line in a summary.
_MIN_GAIN_MS = 1.0
TOP_CANDIDATES = 5


@dataclass
class Gain:
    """An endpoint's measured and projected p95, when moving its deferrable work makes a difference."""

    endpoint: Endpoint
    label: str
    p95_ms: float
    projected_p95_ms: float

    @property
    def gain_ms(self) -> float:
        return self.p95_ms - self.projected_p95_ms

    @property
    def gain_share(self) -> float:
        return self.gain_ms / self.p95_ms if self.p95_ms > 0 else 0.0


@dataclass
class Breach:
    endpoint: Endpoint
    label: str
    over_budget: int
    over_user_budget: int
    share_over_user_budget: float


@dataclass
class PlanStep:
    """One item of the refactor plan: an action, why, and the finding it comes from."""

    action: str
    outcome: str
    finding: Finding | None = None
    code: list[str] = field(default_factory=list)  # locations and names the action refers to


def is_keep_sync(finding: Finding) -> bool:
    return finding.kind is FindingKind.KEEP_SYNC or (
        finding.disposition is Disposition.KEEP_SYNC and finding.kind is not FindingKind.NO_TIMEOUT
    )


def finding_order(finding: Finding) -> tuple[int, int, float, str]:
    """Priority first (1 = do first; 0 = not ranked, last), then severity, then time saved."""
    return (
        finding.priority if finding.priority > 0 else 1_000_000,
        -finding.severity.rank,
        -finding.savings_ms_per_request,
        finding.id,
    )


def short_target(finding: Finding) -> str | None:
    """The target as a reader names it: the host, the task, or ``smtp`` for an email backend's class path."""
    target = finding.target
    if target and finding.category is Category.EMAIL and target.count(".") >= 2:
        parts = target.split(".")
        return parts[-2] if parts[-1].endswith("Backend") else parts[-1]
    # A SQL fingerprint can run to hundreds of characters; the finding's card shows it whole.
    return one_line(target, 60) if target else target


def finding_title(finding: Finding) -> str:
    """A short headline for a finding: what, and against what."""
    what = category_label(finding.category)
    target = short_target(finding)
    if target:
        what = f"{what}: {target}"
    if finding.kind is FindingKind.TIMEOUT_RISK:
        return f"Timeout risk on {endpoint_label(finding.method, finding.route)}"
    if finding.kind is FindingKind.BATCH:
        return f"{what}, {finding.calls_per_request:.3g} calls per request"
    if finding.kind is FindingKind.NO_TIMEOUT:
        return f"{what}, no timeout"
    if finding.kind is FindingKind.FAKE_ASYNC:
        return f"{what}, runs inside the request"
    return what


def plan_step(finding: Finding) -> PlanStep:
    """The action a team takes on one finding, in the imperative, and what it wins."""
    where = site_label(finding.site.file, finding.site.line, finding.site.function)
    endpoint = endpoint_label(finding.method, finding.route)
    saves = (
        f"saves about {fmt_ms(finding.savings_ms_per_request)} per request on {endpoint}"
        if finding.savings_ms_per_request >= _MIN_GAIN_MS
        else f"on {endpoint}"
    )
    kind = finding.kind
    label = category_noun(finding.category)
    target = f" ({short_target(finding)})" if finding.target else ""
    if kind is FindingKind.DEFER:
        task = f"the background task {finding.stub.task_name}" if finding.stub else "a background task"
        action = f"Move the {label}{target} at {where} into {task}"
        if finding.atomic:
            action += ", enqueued with transaction.on_commit"
        return PlanStep(action, saves, finding)
    if kind is FindingKind.BATCH:
        what = f"{label}, {short_target(finding)}" if finding.target else label
        action = (
            f"Batch the {finding.calls_per_request:.3g} calls per request ({what}) at {where} "
            "into one task or one bulk call"
        )
        return PlanStep(action, saves, finding)
    if kind is FindingKind.NO_TIMEOUT:
        action = f"Give the {label}{target} at {where} an explicit timeout"
        outcome = (
            f"{fmt_pct(finding.no_timeout_rate)} of these calls had none, so one slow response can hold a "
            f"worker until the platform kills the request ({endpoint})"
        )
        return PlanStep(action, outcome, finding)
    if kind is FindingKind.FAKE_ASYNC:
        task = f"the task {finding.target}" if finding.target else "the task"
        action = f"Run a real worker for {task}, enqueued at {where}"
        outcome = f"its backend runs the work inside the request: {saves}"
        return PlanStep(action, outcome, finding)
    if kind is FindingKind.TIMEOUT_RISK:
        action = f"Check the tail of {endpoint} again once the moves above are deployed"
        return PlanStep(action, finding.reason, finding)
    action = f"Review the {label}{target} at {where}"
    return PlanStep(action, finding.reason, finding)


def build_context(report: Report) -> dict[str, Any]:
    """Everything the HTML and Markdown templates show, besides the report itself."""
    findings = sorted(report.findings, key=finding_order)
    keep_sync = [f for f in findings if is_keep_sync(f)]
    actionable = [f for f in findings if not is_keep_sync(f)]
    candidates = [
        f for f in actionable if f.kind is FindingKind.DEFER and f.disposition is not Disposition.REVIEW
    ]
    review = [f for f in actionable if f.disposition is Disposition.REVIEW]

    gains = [
        Gain(e, endpoint_label(e.method, e.route), e.p95_ms, e.projected_p95_ms)
        for e in report.endpoints
        if e.p95_ms - e.projected_p95_ms >= _MIN_GAIN_MS
    ]
    gains.sort(key=lambda g: (-g.gain_ms, g.label))

    breaches = [
        Breach(
            e,
            endpoint_label(e.method, e.route),
            e.over_budget,
            e.over_user_budget,
            e.over_user_budget / e.count if e.count else 0.0,
        )
        for e in report.endpoints
        if e.over_budget or e.over_user_budget
    ]
    breaches.sort(key=lambda b: (-b.over_budget, -b.share_over_user_budget, b.label))

    endpoints = sorted(report.endpoints, key=lambda e: (-e.p95_ms, endpoint_label(e.method, e.route)))
    requests = sum(e.count for e in report.endpoints)
    severity_counts = {
        s.value: sum(1 for f in report.findings if f.severity is s) for s in reversed(list(Severity))
    }
    return {
        "findings": findings,
        "actionable": actionable,
        "candidates": candidates,
        "top_candidates": candidates[:TOP_CANDIDATES],
        "review": review,
        "keep_sync": keep_sync,
        "gains": gains,
        "breaches": breaches,
        "endpoints": endpoints,
        "requests": requests,
        "requests_over_budget": sum(e.over_budget for e in report.endpoints),
        "requests_over_user_budget": sum(e.over_user_budget for e in report.endpoints),
        "severity_counts": severity_counts,
        "plan": [plan_step(f) for f in actionable],
        "headline": _headline(report, gains, candidates),
        # A static scan (or silk data without calls) has findings but no timings to project from.
        "measured": bool(report.endpoints),
    }


def _headline(report: Report, gains: list[Gain], candidates: list[Finding]) -> str:
    """One or two sentences a client reads first; built from the figures, never a canned verdict."""
    if not report.endpoints and not report.findings:
        return "The recordings hold no requests to analyse."
    if not report.endpoints:
        sites = "1 call site" if len(candidates) == 1 else f"{len(candidates)} call sites"
        return (
            f"{sites} in the source look like work to move to a background task. Record the site's "
            "traffic to measure what moving them wins."
        )
    parts = []
    if candidates:
        sites = "1 call site does" if len(candidates) == 1 else f"{len(candidates)} call sites do"
        parts.append(f"{sites} work the customer does not wait to see, and can move to a background task.")
    else:
        parts.append("No work was found that can move to a background task without review.")
    if gains:
        best = gains[0]
        parts.append(
            f"The largest gain is on {best.label}: p95 falls from {fmt_ms(best.p95_ms)} "
            f"to {fmt_ms(best.projected_p95_ms)}."
        )
    capacity = report.capacity
    if capacity is not None and capacity.share_freed > 0:
        parts.append(f"Moving it frees {fmt_pct(capacity.share_freed)} of the web workers' time.")
    return " ".join(parts)
