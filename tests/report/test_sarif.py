from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from async_audit.analyze.model import FindingKind, Report
from async_audit.report import SARIFRenderer
from tests.report.sample import empty_report

jsonschema = pytest.importorskip("jsonschema")

# The official OASIS SARIF 2.1.0 schema (errata 01), vendored: tests run without a network.
SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def _validate(document: dict[str, Any]) -> None:
    validator = jsonschema.Draft4Validator(SCHEMA)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_vendored_schema_is_the_official_one() -> None:
    assert SCHEMA["id"].endswith("/sarif-schema-2.1.0.json")
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]


@pytest.mark.parametrize("hostile", [False, True])
def test_valid_against_the_sarif_schema(report: Report, hostile_report: Report, hostile: bool) -> None:
    document = json.loads(SARIFRenderer().render(hostile_report if hostile else report))
    _validate(document)
    assert document["version"] == "2.1.0"


def test_an_empty_report_is_valid_sarif() -> None:
    document = json.loads(SARIFRenderer().render(empty_report()))
    _validate(document)
    assert document["runs"][0]["results"] == []


def test_one_result_per_finding_at_its_file_and_line(report: Report) -> None:
    run = json.loads(SARIFRenderer().render(report))["runs"][0]
    results = {r["partialFingerprints"]["asyncAuditFindingId/v1"]: r for r in run["results"]}
    assert set(results) == {f.id for f in report.findings}
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [k.value for k in FindingKind]
    for finding in report.findings:
        result = results[finding.id]
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding.kind.value
        if finding.site.file:
            physical = result["locations"][0]["physicalLocation"]
            assert physical["artifactLocation"] == {"uri": finding.site.file, "uriBaseId": "SRCROOT"}
            assert physical["region"]["startLine"] == finding.site.line
    crm = results["f-defer-crm"]
    assert crm["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 12
    assert results["f-defer-email"]["level"] == "error"
    assert results["f-batch-index"]["level"] == "warning"
    assert results["f-keep-stripe"]["kind"] == "informational"
    assert results["f-keep-stripe"]["level"] == "none"


def test_an_endpoint_finding_without_a_call_site_gets_a_logical_location(report: Report) -> None:
    run = json.loads(SARIFRenderer().render(report))["runs"][0]
    (risk,) = [r for r in run["results"] if r["ruleId"] == "timeout_risk"]
    assert risk["locations"] == [
        {"logicalLocations": [{"fullyQualifiedName": "accounts.views.signup", "kind": "function"}]}
    ]


def test_paths_become_relative_uris(report: Report) -> None:
    report.findings[0].site = type(report.findings[0].site)("my app/views #1.py", 3, "f")
    document = json.loads(SARIFRenderer().render(report))
    _validate(document)
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in document["runs"][0]["results"]
        if "physicalLocation" in r["locations"][0]
    ]
    assert "my%20app/views%20%231.py" in uris
