"""Stage 2, analysis: record files in, a ``Report`` of endpoints and ranked findings out.

::

    report = build_report(["records/"], AnalysisOptions(workers=8))
    # or, in two steps:
    rec = load_records(["records/"])
    report = analyze(rec, AnalysisOptions(source_root=Path("."), budgets=Budgets(platform_ms=60_000)))

The names are imported on first use, so ``async_audit.analyze.model`` (which the rules, the scanner and the
renderers import) does not pull in pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {
    "KNOWN_BUDGETS": "budgets",
    "KnownBudget": "budgets",
    "budgets_from_config": "budgets",
    "parse_duration": "budgets",
    "LoadStats": "load",
    "Recordings": "load",
    "load_records": "load",
    "recordings_from_dicts": "load",
    "AnalysisOptions": "pipeline",
    "analyze": "pipeline",
    "build_report": "pipeline",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
