"""async-audit's recorder and silk's middleware in one site, in either order: both record, and silk's own
database work (its rows, its EXPLAINs, its transaction) stays out of async-audit's figures."""

from __future__ import annotations

import sqlite3

import pytest

from async_audit.record.hooks import sql as sql_hook
from tests.silk.conftest import SilkRun
from tests.silk.drive import REQUESTS


def silk_requests(database: str) -> list[tuple[str, int | None, int]]:
    """(path, status, statements) of every request silk recorded, in order."""
    conn = sqlite3.connect(database)
    try:
        return list(
            conn.execute(
                "SELECT r.path, s.status_code, "
                "(SELECT COUNT(*) FROM silk_sqlquery q WHERE q.request_id = r.id) "
                "FROM silk_request r LEFT JOIN silk_response s ON s.request_id = r.id "
                "ORDER BY r.start_time"
            )
        )
    finally:
        conn.close()


@pytest.fixture(params=["audit-first", "silk-first"])
def run(request: pytest.FixtureRequest) -> SilkRun:
    name = "silk_sqlite" if request.param == "audit-first" else "silk_sqlite_silk_first"
    result: SilkRun = request.getfixturevalue(name)
    return result


def test_both_record_every_request(run: SilkRun) -> None:
    assert run.killed == 1
    statuses = [r["status"] for r in run.records]
    assert statuses == [200, 200, 200, 404, 200, 200, 500]
    silk = silk_requests(run.database)
    assert [p for p, _, _ in silk] == [path.partition("?")[0] for _, path, _ in REQUESTS]
    assert [s for _, s, _ in silk] == [200, 200, 200, 404, 200, 200, None]  # the killed one: no response


def test_silk_statements_are_not_counted(run: SilkRun) -> None:
    # SLOW_SQL_MS is 0 in the silk site: every statement the recorder counts is also a call, so each is seen.
    for record in run.records:
        statements = [c["sql"] for c in record["calls"] if c["kind"] == "sql"]
        assert record["db"]["n"] == len(statements)
        assert all('"testsite_note"' in s for s in statements), statements
        # Silk runs an EXPLAIN after each query and writes its rows in a transaction: none of it is counted.
        assert not [s for s in statements if s.split()[0] in ("EXPLAIN", "BEGIN", "SAVEPOINT", "RELEASE")]
        # Silk's ORM patch and profiler sit between the view and the hook: plumbing, not the call's SDK.
        assert {c["via"] for c in record["calls"]} <= {None}
        assert all(c["site"]["file"] == "views.py" for c in record["calls"])
    # Where the site made only SELECTs (silk records no INSERT), both count the same statements.
    silk = silk_requests(run.database)
    for (method, _, _), record, (_, status, n) in zip(REQUESTS, run.records, silk, strict=True):
        if method == "GET" and status is not None:
            assert record["db"]["n"] == n


def test_silk_statement_detection() -> None:
    assert sql_hook._from_silk('INSERT INTO "silk_sqlquery" ("query") VALUES (%s)')
    assert sql_hook._from_silk("UPDATE `silk_request` SET `end_time` = %s")
    assert not sql_hook._from_silk('SELECT "shop_product"."silk_blend" FROM "shop_product"')
    # Transaction statements and EXPLAIN from outside silk's frames are the site's own.
    assert not sql_hook._from_silk("EXPLAIN QUERY PLAN SELECT 1")
    assert not sql_hook._from_silk('SAVEPOINT "s1"')


def test_plain_wrapper_where_silk_is_not_installed() -> None:
    # The suite's own settings have no silk: the wrapper pays nothing for silk's sake.
    assert sql_hook._wrapper() is sql_hook._execute_wrapper
