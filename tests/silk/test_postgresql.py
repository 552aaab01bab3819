"""Silk on a real PostgreSQL server (started for the session), imported through its postgresql:// URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from async_audit.silk import import_silk
from tests.silk.conftest import SilkRun, run_site
from tests.silk.test_importer import SECRETS, silk_id


@pytest.fixture(scope="module")
def silk_postgresql(postgresql_url: str, tmp_path_factory: pytest.TempPathFactory) -> SilkRun:
    return run_site(postgresql_url, tmp_path_factory.mktemp("silk-pg"))


def test_postgresql_import_matches_silks_rows(silk_postgresql: SilkRun, tmp_path: Path) -> None:
    import psycopg

    out = tmp_path / "silk.jsonl"
    stats = import_silk(silk_postgresql.database, out, slow_sql_ms=0.0)
    assert (stats.requests, stats.unfinished, stats.blocks) == (7, 1, 4)
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    with psycopg.connect(silk_postgresql.database) as conn:
        rows = conn.execute(
            "SELECT r.id, r.method, r.time_taken, s.status_code, "
            "(SELECT COUNT(*) FROM silk_sqlquery q WHERE q.request_id = r.id), "
            "(SELECT COALESCE(SUM(q.time_taken), 0) FROM silk_sqlquery q WHERE q.request_id = r.id), "
            "(SELECT COUNT(*) FROM silk_profile p WHERE p.request_id = r.id), "
            "EXTRACT(EPOCH FROM r.start_time) "
            "FROM silk_request r LEFT JOIN silk_response s ON s.request_id = r.id"
        ).fetchall()
    assert len(rows) == len(records) == 7
    for rid, method, taken, status, n, sql_ms, profiles, start in rows:
        record = records[silk_id(rid)]
        assert record["method"] == method
        assert record["ts"] == pytest.approx(float(start), abs=1e-6)  # timestamptz: no time-zone guess
        assert record["status"] == (status if status is not None else 0)
        if status is not None:
            assert record["ms"] == pytest.approx(taken, abs=0.001)
        assert record["db"] == {"n": n, "ms": pytest.approx(float(sql_ms), abs=0.002)}
        assert sum(c["kind"] == "sql" for c in record["calls"]) == n
        assert sum(c["kind"] == "block" for c in record["calls"]) == profiles
    text = out.read_text()
    for secret in SECRETS:
        assert secret not in text


def test_postgresql_database_without_silk(postgresql_url: str, tmp_path: Path) -> None:
    import psycopg

    from async_audit.errors import InputError

    url = postgresql_url.rpartition("/")[0] + "/postgres"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS shop_order (id integer)")
    with pytest.raises(InputError, match="none of them silk's"):
        import_silk(url, tmp_path / "x.jsonl")
