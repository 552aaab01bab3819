"""Requests recorded by the real silk middleware (SILKY_PYTHON_PROFILER on, silk_profile blocks), imported,
checked against silk's own rows, and analysed."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from async_audit.analyze import AnalysisOptions, build_report
from async_audit.analyze._parse import parse_objects
from async_audit.silk import import_silk
from tests.silk.conftest import ROOT, SilkRun

SECRETS = ("alice", "example.com", "sk_live", "abcdef123456", "secret-body", "header-secret", "token=")


def silk_id(value: Any) -> str:
    return hashlib.blake2b(str(value).encode(), digest_size=8).hexdigest()


def silk_rows(database: str) -> dict[str, dict[str, Any]]:
    """Silk's own figures per request, read straight from its tables."""
    conn = sqlite3.connect(database)
    try:
        rows: dict[str, dict[str, Any]] = {}
        for rid, method, view, end, taken in conn.execute(
            "SELECT id, method, view_name, end_time, time_taken FROM silk_request"
        ):
            rows[silk_id(rid)] = {
                "method": method,
                "view": view,
                "finished": end is not None,
                "ms": taken,
                "status": None,
                "n": 0,
                "sql_ms": 0.0,
                "queries": [],
                "profiles": [],
            }
        for rid, status in conn.execute("SELECT request_id, status_code FROM silk_response"):
            rows[silk_id(rid)]["status"] = status
        for rid, taken in conn.execute("SELECT request_id, time_taken FROM silk_sqlquery"):
            row = rows[silk_id(rid)]
            row["n"] += 1
            row["sql_ms"] += taken
            row["queries"].append(taken)
        for rid, name, file, line, func, taken in conn.execute(
            "SELECT request_id, name, file_path, line_num, func_name, time_taken FROM silk_profile"
        ):
            rows[silk_id(rid)]["profiles"].append((name, Path(file).name, line, func or None, taken))
        return rows
    finally:
        conn.close()


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def imported(silk_sqlite: SilkRun, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("imported") / "silk.jsonl"
    stats = import_silk(silk_sqlite.database, out, slow_sql_ms=0.0)
    assert stats.requests == 7 and stats.unfinished == 1 and stats.blocks == 4
    return read(out)


def test_imported_figures_match_silks_rows(silk_sqlite: SilkRun, imported: list[dict[str, Any]]) -> None:
    rows = silk_rows(silk_sqlite.database)
    assert {r["id"] for r in imported} == set(rows)
    for record in imported:
        row = rows[record["id"]]
        assert record["method"] == row["method"]
        assert record["view"] == row["view"]
        assert record["db"]["n"] == row["n"]
        assert record["db"]["ms"] == pytest.approx(row["sql_ms"], abs=0.002)
        sql = [c for c in record["calls"] if c["kind"] == "sql"]
        assert sorted(c["ms"] for c in sql) == pytest.approx(sorted(row["queries"]), abs=0.001)
        blocks = [c for c in record["calls"] if c["kind"] == "block"]
        got = sorted(
            (c["name"], Path(c["site"]["file"]).name, c["site"]["line"], c["site"]["function"])
            for c in blocks
        )
        assert got == sorted(p[:4] for p in row["profiles"])
        assert sorted(c["ms"] for c in blocks) == pytest.approx(
            sorted(p[4] for p in row["profiles"]), abs=0.001
        )
        if row["finished"]:
            assert record["status"] == row["status"]
            assert record["ms"] == pytest.approx(row["ms"], abs=0.001)
        else:
            assert record["status"] == 0  # the worker killed mid-request: kept and flagged
            assert record["view"] == "killed"


def test_records_are_version_1_with_one_type_per_key(imported: list[dict[str, Any]]) -> None:
    chunk = parse_objects(imported)
    assert chunk.records == len(imported) and chunk.skipped == 0
    types: dict[str, set[str]] = {}
    for record in imported:
        for key, value in record.items():
            types.setdefault(key, set()).add(type(value).__name__)
        for call in record["calls"]:
            for key, value in call.items():
                types.setdefault("call." + key, set()).add(type(value).__name__)
    mixed = {k: v for k, v in types.items() if len(v - {"NoneType"}) > 1}
    assert mixed == {}
    assert {r["proto"] for r in imported} == {"silk"}
    assert all(c["lib"] == "silk" for r in imported for c in r["calls"])


def test_sql_calls_carry_their_project_call_site(imported: list[dict[str, Any]]) -> None:
    sql = [c for r in imported for c in r["calls"] if c["kind"] == "sql"]
    assert sql and all(c["site"] is not None for c in sql)
    assert {Path(c["site"]["file"]).name for c in sql} == {"views.py"}
    assert all("site-packages" not in f["file"] for c in sql for f in c["stack"])
    # The query inside the silk_profile block nests under it.
    profiled = [r for r in imported if r["view"] == "profiled"]
    for record in profiled:
        calls = record["calls"]
        nested = [c for c in calls if c["kind"] == "sql" and c["parent"] is not None]
        assert nested and all(calls[c["parent"]]["kind"] == "block" for c in nested)


def test_nothing_silk_stored_about_the_request_leaks(silk_sqlite: SilkRun, tmp_path: Path) -> None:
    # Silk did store them (query string, body, headers, parameters pasted into its SQL)...
    raw = Path(silk_sqlite.database).read_bytes()
    assert b"alice@example.com" in raw and b"secret-body-text" in raw and b"header-secret" in raw
    out = tmp_path / "silk.jsonl"
    import_silk(silk_sqlite.database, out, slow_sql_ms=0.0)
    text = out.read_text()
    # ...and none of it reaches the records.
    for secret in SECRETS:
        assert secret not in text
    routes = {r["route"] for r in read(out)}
    assert "/orders/{id}/" in routes and not any("4242" in r for r in routes)


def test_slow_sql_threshold_keeps_only_slow_statements(silk_sqlite: SilkRun, tmp_path: Path) -> None:
    rows = silk_rows(silk_sqlite.database)
    all_queries = sorted(q for row in rows.values() for q in row["queries"])
    threshold = all_queries[len(all_queries) // 2]  # half of silk's own statements are at least this slow
    out = tmp_path / "silk.jsonl"
    stats = import_silk(silk_sqlite.database, out, slow_sql_ms=threshold)
    assert stats.sql_calls == sum(1 for q in all_queries if q >= threshold)
    records = read(out)
    # Every statement still counts in the request's db figures.
    assert sum(r["db"]["n"] for r in records) == len(all_queries)


def test_analysed_report_is_silk_sourced_and_counts_unfinished_over_budget(
    silk_sqlite: SilkRun, tmp_path: Path
) -> None:
    out = tmp_path / "silk.jsonl"
    import_silk(silk_sqlite.database, out, slow_sql_ms=0.0)
    report = build_report([out], AnalysisOptions())
    assert report.sources.kind == "silk"
    assert any("no outbound HTTP" in n and "recorder" in n for n in report.sources.notes)
    assert any("never finished" in n for n in report.sources.notes)
    assert report.sources.records == 7
    killed = [e for e in report.endpoints if e.route == "/killed/"]
    assert len(killed) == 1 and killed[0].over_budget == 1 and killed[0].over_user_budget == 1
    assert sum(e.over_budget for e in report.endpoints) == 1
    blocks = [f for f in report.findings if f.target in ("load notes", "render invoice")]
    assert {f.site.function for f in blocks} == {None, "_render_invoice"}


def test_import_inside_the_site_resolves_routes(silk_sqlite: SilkRun, imported: list[dict[str, Any]]) -> None:
    assert silk_sqlite.imported_in_site is not None
    in_site = read(silk_sqlite.imported_in_site)
    routes = sorted({r["route"] for r in in_site})
    assert routes == ["killed/", "notes/", "orders/<int:pk>/", "profiled/"]
    assert {r["view"] for r in in_site} >= {"tests.silk.views.notes", "tests.silk.views.order"}
    # Same requests and figures as the import from the file.
    by_id = {r["id"]: r for r in imported}
    for record in in_site:
        assert record["db"] == by_id[record["id"]]["db"]
        assert record["status"] == by_id[record["id"]]["status"]


def test_command_with_settings_resolves_routes(silk_sqlite: SilkRun, tmp_path: Path) -> None:
    # The consultant's way: the site's settings importable here, silk's database copied from the server.
    out = tmp_path / "silk.jsonl"
    env = {**os.environ, "SILK_TEST_DB": silk_sqlite.database, "PYTHONWARNINGS": "error"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    args = [sys.executable, "-m", "async_audit.cli", "import-silk", silk_sqlite.database, "--out", str(out)]
    proc = subprocess.run(
        [*args, "--settings", "tests.silk.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "masked" not in proc.stderr
    assert sorted({r["route"] for r in read(out)}) == ["killed/", "notes/", "orders/<int:pk>/", "profiled/"]
    broken = subprocess.run(
        [*args, "--settings", "tests.silk.no_such_settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert broken.returncode == 2
    assert broken.stderr.strip().splitlines() == [
        "Error: tests.silk.no_such_settings: cannot load it to resolve routes: ModuleNotFoundError: "
        "No module named 'tests.silk.no_such_settings'"
    ]
