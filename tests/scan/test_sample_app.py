"""The scanner against the sample site's ground truth: every case it can detect, at the right line, and
nothing else (precision and recall both 1.0)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from async_audit.analyze.model import Finding, Report
from async_audit.rules import load_rules
from async_audit.scan import scan_project

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the oldest stack
    import tomli as tomllib

SAMPLE = Path(__file__).resolve().parents[2] / "sample_app"
TRUTH = SAMPLE / "GROUND_TRUTH.toml"

pytestmark = pytest.mark.skipif(not TRUTH.is_file(), reason="the sample site has no ground truth yet")


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    with TRUTH.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def report(truth: dict[str, Any]) -> Report:
    root = SAMPLE / truth.get("project_root", ".")
    return scan_project(root, rules=load_rules(root, root / truth["rules"]) if "rules" in truth else None)


def _cases(truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [case for case in truth["case"] if "scan" in case.get("detect", [])]


def _key(item: dict[str, Any] | Finding) -> tuple[str, str | None, int | None]:
    if isinstance(item, Finding):
        return item.kind.value, item.site.file, item.site.line
    return item["kind"], item["file"], item["line"]


def _allowed(finding: Finding, truth: dict[str, Any]) -> bool:
    return any(
        all(getattr(finding, key).value == value for key, value in allowed.items() if key != "note")
        for allowed in truth.get("allowed", [])
    )


def test_precision_and_recall_are_one(report: Report, truth: dict[str, Any]) -> None:
    cases = _cases(truth)
    expected = {_key(case) for case in cases}
    required = {_key(case) for case in cases if case.get("required", True)}
    reported = {_key(f) for f in report.findings if not _allowed(f, truth)}
    true_positives = reported & expected
    precision = len(true_positives) / len(reported) if reported else 1.0
    recall = len(true_positives & required) / len(required) if required else 1.0
    misses = {"unexpected": reported - expected, "missed": required - reported}
    assert (precision, recall) == (1.0, 1.0), misses


@pytest.mark.parametrize("field", ["category", "disposition", "function", "method", "route", "view"])
def test_each_case_is_described_as_the_truth_says(report: Report, truth: dict[str, Any], field: str) -> None:
    by_key = {_key(f): f for f in report.findings}
    wrong = []
    for case in _cases(truth):
        finding = by_key.get(_key(case))
        if finding is None or field not in case:
            continue
        if field == "function":
            actual: Any = finding.site.function
        else:
            actual = getattr(finding, field)
            actual = getattr(actual, "value", actual)
        if actual != case[field]:
            wrong.append((case["id"], actual, case[field]))
    assert wrong == []


def test_atomic_cases(report: Report, truth: dict[str, Any]) -> None:
    by_key = {_key(f): f for f in report.findings}
    for case in _cases(truth):
        atomic = case.get("record", {}).get("atomic")
        finding = by_key.get(_key(case))
        if atomic is not None and finding is not None:
            assert finding.atomic is atomic, case["id"]
