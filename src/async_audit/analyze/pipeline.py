"""The analysis: recordings in, a ``Report`` out, as frame-to-frame steps composed with ``DataFrame.pipe``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from async_audit.analyze import classify, findings, timeline
from async_audit.analyze.budgets import budgets_from_config
from async_audit.analyze.load import Recordings, load_records
from async_audit.analyze.model import Budgets, Endpoint, Report, Sources
from async_audit.rules import RuleSet, load_rules

__all__ = ["AnalysisOptions", "analyze", "build_report"]


@dataclass
class AnalysisOptions:
    """What the analysis needs besides the records.

    ``rules`` defaults to the built-in rules plus the project's (``config_file``, or the config found in
    ``source_root``). Budgets left at their defaults take ``budget``/``user_budget`` from that config.
    """

    budgets: Budgets = field(default_factory=Budgets)
    workers: int | None = None
    source_root: Path | None = None
    rules: RuleSet | None = None
    config_file: Path | None = None


def _rules(options: AnalysisOptions) -> RuleSet:
    if options.rules is not None:
        return options.rules
    return load_rules(project_dir=options.source_root, config_file=options.config_file)


def _budgets(given: Budgets, rules: RuleSet) -> Budgets:
    """The given budgets, where a figure left at its default takes the project config's value, if any."""
    if not rules.settings:
        return given
    configured = budgets_from_config(rules.settings)
    default = Budgets()
    changes: dict[str, Any] = {}
    if (given.platform_ms, given.platform_name) == (default.platform_ms, default.platform_name):
        changes["platform_ms"], changes["platform_name"] = configured.platform_ms, configured.platform_name
    for name in ("user_ms", "user_percentile"):
        if getattr(given, name) == getattr(default, name):
            changes[name] = getattr(configured, name)
    return dataclasses.replace(given, **changes)


def _sources(rec: Recordings, options: AnalysisOptions, reaches_available: bool) -> Sources:
    stats = rec.stats
    notes = []
    if options.source_root is None:
        notes.append(
            "Interactivity was decided from each call's method and category; run with --source-root to let "
            "the call sites' code decide whether the response uses a result."
        )
    elif not reaches_available:
        notes.append(
            "The source data-flow analysis is not available; method and category decided interactivity."
        )
    if stats.skipped_lines:
        notes.append(f"{stats.skipped_lines} torn, undecodable or invalid lines were skipped.")
    if stats.log_files:
        notes.append(_log_note(stats.log_files, stats.non_record_lines))
    if stats.requests_unsampled:
        notes.append(
            f"The recorder left out {stats.requests_unsampled} requests by sampling: counts cover recorded "
            "requests only; capacity figures are scaled up to all requests."
        )
    if stats.calls_dropped:
        notes.append(f"{stats.calls_dropped} calls were not recorded (per-request call cap): totals are low.")
    if stats.records_lost:
        notes.append(f"The recorder lost {stats.records_lost} records (full queue or failed writes).")
    notes.append("Percentiles interpolate linearly between the nearest recorded values.")
    kind, silk_notes = _silk_notes(rec.requests)
    return Sources(
        kind=kind or "recorded",
        paths=list(stats.paths),
        files=stats.files,
        records=stats.records,
        calls=stats.calls,
        skipped_lines=stats.skipped_lines,
        hosts=list(stats.hosts),
        processes=stats.processes,
        first_ts=stats.first_ts,
        last_ts=stats.last_ts,
        calls_dropped=stats.calls_dropped,
        records_lost=stats.records_lost,
        requests_unsampled=stats.requests_unsampled,
        source_root=str(options.source_root) if options.source_root is not None else None,
        non_record_lines=stats.non_record_lines,
        notes=silk_notes + notes,
    )


def _log_note(files: int, other: int) -> str:
    """What reading log files means for the counts: their other lines are no loss."""
    where = "a log file" if files == 1 else f"{files} log files"
    text = f"Records were read from {where} (the recorder's log sink)"
    if not other:
        return text + "; every line held a record."
    if other == 1:
        return text + "; 1 other line held no record (the site's own log output): not a lost record."
    return text + f"; {other} other lines held no record (the site's own log output): not lost records."


def analyze(rec: Recordings, options: AnalysisOptions) -> Report:
    """Classify every call, re-time every request without its deferrable work, and build the report.

    Pure: reads nothing but source files under ``options.source_root`` (and the project config when
    ``options.rules`` is not given), prints nothing.
    """
    rules = _rules(options)
    budgets = _budgets(options.budgets, rules)
    reaches = classify._reaches_function() if options.source_root is not None else None
    calls = (
        rec.calls.pipe(classify.classify_calls, rules)
        .pipe(classify.source_interactivity, options.source_root, reaches)
        .pipe(classify.resolve_nesting)
        .pipe(classify.mark_deferrable)
        .pipe(timeline.exclusive_time, rec.requests)
    )
    requests = rec.requests.pipe(_unfinished_run_to_budget, budgets).pipe(timeline.retime, calls)
    endpoints = findings.endpoint_stats(requests, calls, budgets)
    from_source = options.source_root is not None and reaches is not None
    ids = requests["id"].to_numpy()
    report = Report(
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        sources=_sources(rec, options, reaches is not None),
        budgets=budgets,
        endpoints=_endpoints(endpoints, ids),
        findings=findings.findings(rec, requests, calls, endpoints, budgets, from_source),
        capacity=findings.capacity(requests, options.workers, (rec.stats.first_ts, rec.stats.last_ts)),
        examples=findings.examples(requests, calls, endpoints),
    )
    return report


def _unfinished_run_to_budget(requests: pd.DataFrame, budgets: Budgets) -> pd.DataFrame:
    """Requests that never finished (status 0, from silk: a worker killed at the timeout, most often) are
    taken to have run until the platform budget; their recorded ``ms`` is only what was seen of them."""
    unfinished = requests["status"].to_numpy() == 0
    if not unfinished.any():
        return requests
    out: pd.DataFrame = requests.copy(deep=False)
    out["ms"] = np.where(
        unfinished, np.maximum(requests["ms"].to_numpy(), budgets.platform_ms), requests["ms"]
    )
    return out


def _silk_notes(requests: pd.DataFrame) -> tuple[str | None, list[str]]:
    """The kind of source when records came from django-silk (``proto`` "silk"), and what that data lacks."""
    silk = (requests["proto"] == "silk").to_numpy()
    if not silk.any():
        return None, []
    notes = [
        "Imported from django-silk, which records no outbound HTTP calls and no email: the slow third-party "
        "work this report looks for is invisible in it. Install async-audit's recorder (AuditMiddleware) to "
        "see it; silk's data shows SQL and silk_profile blocks only."
    ]
    unfinished = int(((requests["status"] == 0).to_numpy() & silk).sum())
    if unfinished:
        notes.append(
            f"{unfinished} {'request' if unfinished == 1 else 'requests'} silk never finished (status 0: "
            "no end time, often a worker killed at the timeout): counted over every budget, as running "
            "until the platform budget."
        )
    routes = requests["route"].astype(object).to_numpy()
    masked = sum(1 for r, s in zip(routes, silk, strict=False) if s and isinstance(r, str) and r[:1] == "/")
    if masked:
        notes.append(
            f"{masked} silk {'request has' if masked == 1 else 'requests have'} no URL pattern: their "
            "routes are paths with identifiers masked (import with --settings or inside the site to resolve "
            "them)."
        )
    return ("silk" if silk.all() else "recorded+silk"), notes


def _endpoints(stats: pd.DataFrame, ids: np.ndarray) -> list[Endpoint]:
    out = []
    for (method, route), e in zip(stats.index, findings.records(stats), strict=False):
        out.append(
            Endpoint(
                method=str(method),
                route=findings._str(route),
                view=e["view"],
                count=int(e["count"]),
                p50_ms=float(e["p50_ms"]),
                p95_ms=float(e["p95_ms"]),
                p99_ms=float(e["p99_ms"]),
                max_ms=float(e["max_ms"]),
                over_budget=int(e["over_budget"]),
                over_user_budget=int(e["over_user_budget"]),
                deferrable_ms_p50=float(e["deferrable_ms_p50"]),
                deferrable_ms_p95=float(e["deferrable_ms_p95"]),
                projected_p50_ms=float(e["projected_p50_ms"]),
                projected_p95_ms=float(e["projected_p95_ms"]),
                projected_p99_ms=float(e["projected_p99_ms"]),
                error_count=int(e["error_count"]),
                time_by_category=dict(e["time_by_category"]),
                example_request_id=str(ids[e["example_row"]]) if e["example_row"] >= 0 else None,
            )
        )
    return out


def build_report(
    paths: Sequence[str | Path],
    options: AnalysisOptions,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Load the record files and analyse them."""
    return analyze(load_records(paths, progress), options)
