"""GROUND_TRUTH.toml stays true to the sample site's code, and to what the recorder records when it runs."""

from __future__ import annotations

import ast
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ground_truth
from async_audit.analyze.model import Category, Disposition, FindingKind
from runner import SAMPLE_APP_DIR, Site
from traffic import tour

from .conftest import AUDIT

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

GROUND_TRUTH = tomllib.loads((SAMPLE_APP_DIR / "GROUND_TRUTH.toml").read_text())
CASES: list[dict[str, Any]] = GROUND_TRUTH["case"]
RECORD_KINDS = {"http", "email", "sql", "task", "block"}
MARKER = re.compile(r"#\s*audit:\s*([\w-]+)")


def _marker(case: dict[str, Any]) -> str:
    return str(case.get("marker", case["id"]))


def _source_lines(relpath: str) -> list[str]:
    return (SAMPLE_APP_DIR / relpath).read_text().splitlines()


def test_cases_are_well_formed() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        FindingKind(case["kind"])
        Category(case["category"])
        Disposition(case["disposition"])
        if "disposition_without_source" in case:
            Disposition(case["disposition_without_source"])
        assert isinstance(case["required"], bool)
        assert set(case["detect"]) <= {"record", "scan"}
        assert case["record"]["kind"] in RECORD_KINDS
        assert case["method"] in {"GET", "POST"}
        assert not case["route"].startswith("/")
    for allowed in GROUND_TRUTH["allowed"]:
        FindingKind(allowed["kind"])
        Category(allowed["category"])
        Disposition(allowed["disposition"])
    # Every kind of finding the site was built to show is planted at least once.
    kinds = {case["kind"] for case in CASES if case["required"]}
    assert kinds == {"defer", "keep_sync", "batch", "no_timeout", "fake_async"}


def test_the_loader_reads_every_case() -> None:
    truth = ground_truth.load()
    assert [case.id for case in truth.cases] == [case["id"] for case in CASES]
    assert {case.id for case in truth.required} == {case["id"] for case in CASES if case["required"]}
    charge = truth.by_id("checkout-stripe-charge")
    assert (charge.kind, charge.disposition, charge.site) == (
        "keep_sync",
        "keep_sync",
        ("billing/payments.py", 16),
    )
    assert truth.by_id("invoice-crm-deal-no-timeout").marker == "invoice-crm-deal"
    assert truth.rules == SAMPLE_APP_DIR / "async-audit.toml"
    assert truth.rules.is_file()
    assert truth.explains(kind="batch", category="email", file="newsletters/sending.py", line=37)
    assert truth.explains(
        kind="keep_sync", category="sql", file="billing/forms.py", line=43
    )  # allowed anywhere
    enqueue = truth.by_id("invoice-reminder-task")
    assert truth.explains(kind="fake_async", category="task", file=enqueue.file, line=enqueue.line)
    assert not truth.explains(kind="defer", category="email", file=enqueue.file, line=enqueue.line)
    with pytest.raises(KeyError):
        truth.by_id("nothing")


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case_points_at_its_marked_line_in_its_function(case: dict[str, Any]) -> None:
    lines = _source_lines(case["file"])
    line = lines[case["line"] - 1]
    assert MARKER.search(line) and MARKER.search(line).group(1) == _marker(case), line  # type: ignore[union-attr]
    tree = ast.parse("\n".join(lines))
    assert _function_at(tree, case["line"]) == case["function"]


def test_every_marker_in_the_site_is_a_case() -> None:
    markers = {_marker(case) for case in CASES}
    found = set()
    for path in SAMPLE_APP_DIR.rglob("*.py"):
        if "services" in path.relative_to(SAMPLE_APP_DIR).parts:
            continue
        found |= set(MARKER.findall(path.read_text()))
    assert found == markers


def _function_at(tree: ast.AST, line: int, prefix: str = "") -> str | None:
    for node in ast.iter_child_nodes(tree):
        end = getattr(node, "end_lineno", None)
        if not hasattr(node, "lineno") or end is None or not node.lineno <= line <= end:
            continue
        if isinstance(node, ast.ClassDef):
            return _function_at(node, line, f"{prefix}{node.name}.")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return _function_at(node, line, f"{prefix}{node.name}.") or f"{prefix}{node.name}"
    return None


# What the recorder records, when the site runs a tour of every step.


@pytest.fixture(scope="module")
def records(site: Site) -> list[dict[str, Any]]:
    if not AUDIT:
        pytest.skip("async_audit.middleware is not importable")
    result = tour(site.wsgi_url, site.asgi_url, seed=9)
    assert result.ok, result.errors
    wanted = {(case["method"], case["route"]) for case in CASES if case["required"]}
    deadline = time.monotonic() + 15
    while True:
        found = _read_records(site.audit_dir)
        if wanted <= {(r["method"], r["route"]) for r in found} or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _read_records(directory: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(directory.glob("async-audit-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                pass  # a line the writer has not finished yet
    return records


def _matches(case: dict[str, Any], record: dict[str, Any], index: int) -> bool:
    call = record["calls"][index]
    expected = case["record"]
    site = call["site"] or {}
    if (call["kind"], site.get("file"), site.get("line")) != (expected["kind"], case["file"], case["line"]):
        return False
    for key in ("lib", "method", "path", "atomic", "inline", "task", "name"):
        if key in expected and call.get(key) != expected[key]:
            return False
    if "via" in expected and call.get("via") != (expected["via"] or None):
        return False
    if "timeout" in expected and call.get("timeout") != (
        None if expected["timeout"] == "none" else expected["timeout"]
    ):
        return False
    if "proto" in expected and record["proto"] != expected["proto"]:
        return False
    if "stack_includes" in expected and expected["stack_includes"] not in {f["file"] for f in call["stack"]}:
        return False
    if expected.get("nested") and call["parent"] is None:
        return False
    if "min_calls_per_request" in expected:
        same = [c for c in record["calls"] if c["site"] == call["site"] and c["kind"] == call["kind"]]
        if len(same) < expected["min_calls_per_request"]:
            return False
    return True


@pytest.mark.e2e
@pytest.mark.parametrize(
    "case", [case for case in CASES if "record" in case["detect"]], ids=lambda case: str(case["id"])
)
def test_the_recorder_records_the_case_as_described(
    case: dict[str, Any], records: list[dict[str, Any]]
) -> None:
    kind = case["record"]["kind"]
    if not any(call["kind"] == kind for record in records for call in record["calls"]):
        if case["required"]:
            pytest.skip(f"nothing of kind {kind!r} was recorded: its hook is not installed yet")
        pytest.skip(f"{case['id']} is recorded only sometimes")
    endpoint = [r for r in records if (r["method"], r["route"]) == (case["method"], case["route"])]
    assert endpoint, f"no record of {case['method']} {case['route']}"
    assert all(r["view"] == case["view"] for r in endpoint)
    hits = [(r, i) for r in endpoint for i in range(len(r["calls"])) if _matches(case, r, i)]
    if not hits and not case["required"]:
        pytest.skip(f"{case['id']} is recorded only sometimes")
    seen = [
        {k: c.get(k) for k in ("kind", "lib", "via", "site", "atomic", "timeout", "parent")}
        for r in endpoint
        for c in r["calls"]
    ]
    assert hits, f"{case['id']}: expected {case['record']} at {case['file']}:{case['line']}; recorded {seen}"


def test_sync_moves_lines_to_their_markers(tmp_path: Path) -> None:
    truth = ground_truth.load()
    (tmp_path / "GROUND_TRUTH.toml").write_text(ground_truth.PATH.read_text())
    for relpath in {case.file for case in truth.cases}:
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_text((SAMPLE_APP_DIR / relpath).read_text())
    assert ground_truth.sync_lines(tmp_path / "GROUND_TRUTH.toml") == []

    signals = tmp_path / "billing" / "signals.py"
    signals.write_text("# a new first line\n\n" + signals.read_text())
    slack = truth.by_id("invoice-slack-signal")
    moved = ground_truth.sync_lines(tmp_path / "GROUND_TRUTH.toml")
    assert moved == [f"invoice-slack-signal: {slack.line} -> {slack.line + 2}"]
    synced = ground_truth.load(tmp_path / "GROUND_TRUTH.toml")
    assert synced.by_id("invoice-slack-signal").line == slack.line + 2

    signals.write_text(signals.read_text().replace("# audit: invoice-slack-signal", ""))
    with pytest.raises(ValueError, match="found on 0 lines"):
        ground_truth.sync_lines(tmp_path / "GROUND_TRUTH.toml")
