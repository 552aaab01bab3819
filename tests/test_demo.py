"""End to end: ``async-audit demo`` on the sample site, checked against what the site is known to do.

Real servers (gunicorn, uvicorn), real services on 127.0.0.1 (aiosmtpd, the stand-in APIs), the real
recorder, analyzer, renderers and stub generators; a shorter traffic mix than the command's default.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import ground_truth
from async_audit.analyze.model import Finding
from async_audit.cli import cli
from async_audit.demo import DemoResult, run_demo
from services import Latency

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoResult]:
    yield run_demo(tmp_path_factory.mktemp("demo") / "out", steps=60, duration=30.0, seed=3)


def _at(findings: list[Finding], case: ground_truth.Case) -> list[Finding]:
    return [f for f in findings if (f.site.file, f.site.line) == case.site and f.kind.value == case.kind]


def test_writes_reports_stubs_and_records(demo: DemoResult) -> None:
    names = sorted(p.name for p in demo.reports)
    assert names == ["async-audit-report.html", "async-audit-report.json", "async-audit-report.md"]
    data = json.loads((demo.out_dir / "async-audit-report.json").read_text())
    assert data["schema"] == 1 and data["sources"]["records"] == demo.requests
    assert (demo.out_dir / "stubs" / "call-sites.patch").is_file()
    assert any(p.name == "tasks.py" for p in demo.stubs)
    assert list((demo.out_dir / "records").glob("async-audit-*.jsonl"))
    assert demo.errors == [] and all(200 <= code < 400 for code in demo.statuses)
    # The work really happened at the services.
    assert demo.received["emails"] > 0 and demo.received["crm_contacts"] > 0 and demo.received["payments"] > 0


def test_every_planted_case_is_found_with_its_kind_and_disposition(demo: DemoResult) -> None:
    truth = ground_truth.load()
    missing = []
    for case in truth.required:
        if "record" not in case.detect:
            continue
        found = _at(demo.report.findings, case)
        if not found:
            missing.append(f"{case.id}: no {case.kind} finding at {case.file}:{case.line}")
            continue
        finding = found[0]
        if (finding.category.value, finding.disposition.value) != (case.category, case.disposition):
            missing.append(
                f"{case.id}: {finding.category.value}/{finding.disposition.value}, "
                f"expected {case.category}/{case.disposition} ({finding.reason})"
            )
        if finding.route != case.route:
            missing.append(f"{case.id}: route {finding.route!r}, expected {case.route!r}")
    assert missing == []


def test_nothing_is_reported_that_the_site_does_not_do(demo: DemoResult) -> None:
    truth = ground_truth.load()
    unexplained = [
        f"{f.kind.value} {f.category.value} at {f.site.file}:{f.site.line} ({f.route})"
        for f in demo.report.findings
        if f.site.file is not None
        and not truth.explains(
            kind=f.kind.value, category=f.category.value, file=f.site.file, line=f.site.line
        )
    ]
    assert unexplained == []


def test_a_slower_crm_shows_up_as_a_larger_saving(tmp_path: Path) -> None:
    truth = ground_truth.load()
    case = truth.by_id("invoice-crm-deal")
    savings = []
    for ms in (40.0, 640.0):
        result = run_demo(tmp_path / f"crm-{ms:g}", steps=0, seed=5, latency={"crm": Latency(ms=ms)})
        (finding,) = _at(result.report.findings, case)
        savings.append(finding.savings_ms_per_request)
    fast, slow = savings
    assert slow - fast >= 500, savings


def test_cli_demo_prints_a_summary_and_the_path_to_open(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "out"), "--steps", "0", "--fast"])
    assert result.exit_code == 0, result.output
    assert "findings" in result.output
    assert "Took " in result.output and "(site " in result.output
    assert f"Open: {tmp_path / 'out' / 'async-audit-report.html'}" in result.output
    assert (tmp_path / "out" / "async-audit-report.html").is_file()
