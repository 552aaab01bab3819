"""Stage 2, analysis: record files in, a ``Report`` of endpoints and ranked findings out.

::

    report = build_report(["records/"], AnalysisOptions(workers=8))
    # or, in two steps:
    rec = load_records(["records/"])
    report = analyze(rec, AnalysisOptions(source_root=Path("."), budgets=Budgets(platform_ms=60_000)))
"""

from __future__ import annotations

from async_audit.analyze.budgets import KNOWN_BUDGETS, KnownBudget, budgets_from_config, parse_duration
from async_audit.analyze.load import LoadStats, Recordings, load_records, recordings_from_dicts
from async_audit.analyze.pipeline import AnalysisOptions, analyze, build_report

__all__ = [
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
