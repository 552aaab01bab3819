"""Databases that are not what silk writes today: older schemas, foreign, empty, or not databases at all."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from async_audit.cli import cli
from async_audit.errors import InputError
from async_audit.silk import import_silk
from async_audit.silk.database import redact_url

# django-silk's first migration (0001_initial): none of the columns later versions added.
SILK_0001 = {
    "silk_request": "id varchar(36) PRIMARY KEY, path varchar(190), query_params text, raw_body text, "
    "body text, method varchar(10), start_time datetime, view_name varchar(190) NULL, "
    "end_time datetime NULL, "
    "time_taken real NULL, encoded_headers text, meta_time real NULL, meta_num_queries integer NULL, "
    "meta_time_spent_queries real NULL, pyprofile text, num_sql_queries integer",
    "silk_response": "id varchar(36) PRIMARY KEY, request_id varchar(36), status_code integer, "
    "raw_body text, body text, encoded_headers text",
    "silk_sqlquery": "id integer PRIMARY KEY, query text, start_time datetime NULL, end_time datetime NULL, "
    "time_taken real NULL, request_id varchar(36) NULL, traceback text",
    "silk_profile": "id integer PRIMARY KEY, name varchar(300), start_time datetime, end_time datetime NULL, "
    "time_taken real NULL, file_path varchar(300), line_num integer NULL, end_line_num integer NULL, "
    "func_name varchar(300), exception_raised bool, dynamic bool, request_id varchar(36) NULL",
}


def make_db(path: Path, tables: dict[str, str], requests: bool = True) -> Path:
    conn = sqlite3.connect(path)
    for table, columns in tables.items():
        conn.execute(f"CREATE TABLE {table} ({columns})")
    if requests and "silk_request" in tables:
        conn.execute(
            "INSERT INTO silk_request (id, path, method, start_time, end_time, view_name, time_taken, "
            "query_params, body) VALUES ('r1', '/users/123/', 'GET', '2026-11-28 01:00:00', "
            "'2026-11-28 01:00:02.500000', 'users:detail', 2500.0, '{\"q\": \"secret\"}', 'secret body')"
        )
        conn.execute(
            "INSERT INTO silk_request (id, path, method, start_time, view_name, query_params, body) "
            "VALUES ('r2', '/export/', 'POST', '2026-11-28 01:00:05', 'export', '', '')"
        )
        conn.execute("INSERT INTO silk_response (id, request_id, status_code) VALUES ('s1', 'r1', 200)")
        traceback = (
            '  File "/srv/app/users/views.py", line 12, in detail\n    x\n'
            '  File "/srv/venv/lib/python3.12/site-packages/django/core/handlers/base.py", line 1, in g\n'
        )
        conn.execute(
            "INSERT INTO silk_sqlquery (query, start_time, end_time, time_taken, request_id, traceback) "
            "VALUES "
            '(\'SELECT "u"."id" FROM "u" WHERE "u"."email" = bob@example.org\', '
            "'2026-11-28 01:00:01', '2026-11-28 01:00:01.200000', 200.0, 'r1', ?)",
            (traceback,),
        )
        conn.execute(
            "INSERT INTO silk_profile (name, start_time, end_time, time_taken, file_path, line_num, "
            "func_name, exception_raised, dynamic, request_id) VALUES ('pdf', '2026-11-28 01:00:00.100000', "
            "'2026-11-28 01:00:02.100000', 2000.0, '/srv/app/users/pdf.py', 30, 'render', 1, 0, 'r1')"
        )
    conn.commit()
    conn.close()
    return path


def test_the_first_silk_schema_imports(tmp_path: Path) -> None:
    db = make_db(tmp_path / "old.sqlite3", SILK_0001)
    stats = import_silk(str(db), tmp_path / "out.jsonl", slow_sql_ms=100)
    assert (stats.requests, stats.unfinished, stats.sql_calls, stats.blocks) == (2, 1, 1, 1)
    assert stats.project_root == "/srv/app/users"
    first, second = (json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines())
    assert first["route"] == "/users/{id}/" and first["status"] == 200 and first["ms"] == 2500.0
    assert first["ts"] == 1795827600.0  # naive timestamps are UTC, as Django stores them with USE_TZ
    block, sql = first["calls"]
    assert block["kind"] == "block" and block["name"] == "pdf" and block["error"] == "Exception"
    assert block["site"] == {"file": "pdf.py", "line": 30, "function": "render"}
    assert block["t"] == 100.0 and block["ms"] == 2000.0 and block["parent"] is None
    assert sql["parent"] == 0 and sql["site"] == {"file": "views.py", "line": 12, "function": "detail"}
    assert sql["sql"] == 'SELECT "u"."id" FROM "u" WHERE "u"."email" = ?'
    assert second["status"] == 0 and second["ms"] == 0.0 and second["calls"] == []
    assert "secret" not in (tmp_path / "out.jsonl").read_text()


def test_project_root_given(tmp_path: Path) -> None:
    db = make_db(tmp_path / "old.sqlite3", SILK_0001)
    import_silk(str(db), tmp_path / "out.jsonl", project_root="/srv/app")
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert first["calls"][0]["site"]["file"] == "users/pdf.py"
    assert first["calls"][1]["site"]["file"] == "users/views.py"


def broken(tmp_path: Path, kind: str) -> str:
    path = tmp_path / "db.sqlite3"
    if kind == "missing":
        return str(tmp_path / "nope.sqlite3")
    if kind == "empty-file":
        path.write_bytes(b"")
    elif kind == "not-a-database":
        path.write_text("this is a text file, not a database\n" * 50)
    elif kind == "foreign":
        make_db(path, {"auth_user": "id integer", "blog_post": "id integer"})
    elif kind == "no-response-table":  # an older or partial silk schema
        make_db(path, {k: v for k, v in SILK_0001.items() if k != "silk_response"}, requests=False)
    elif kind == "old-columns":
        old = dict(
            SILK_0001, silk_request="id varchar(36), path varchar(190), method varchar(10), start_time text"
        )
        make_db(path, old, requests=False)
    elif kind == "no-requests":
        make_db(path, SILK_0001, requests=False)
    return str(path)


CASES = {
    "missing": "no such file",
    "empty-file": "no django-silk tables here (an empty database)",
    "not-a-database": "not a database",
    "foreign": "2 tables, none of them silk's",
    "no-response-table": "no table silk_response",
    "old-columns": "silk_request has no column end_time, view_name",
    "no-requests": "silk recorded no requests",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_databases_are_one_line_errors(tmp_path: Path, kind: str) -> None:
    database = broken(tmp_path, kind)
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError, match=CASES[kind].replace("(", r"\(").replace(")", r"\)")):
        import_silk(database, out)
    assert not out.exists()  # nothing half-written
    result = CliRunner().invoke(cli, ["import-silk", database, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output


def test_unreachable_postgresql_is_one_line_without_the_password(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://audit:hunter2@127.0.0.1:1/silk?connect_timeout=2"
    result = CliRunner().invoke(cli, ["import-silk", url, "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert "hunter2" not in result.output and "cannot connect" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://h/db") == "postgresql://h/db"


def test_command_writes_the_file_and_a_summary(tmp_path: Path) -> None:
    db = make_db(tmp_path / "old.sqlite3", SILK_0001)
    out = tmp_path / "records" / "silk.jsonl"
    result = CliRunner().invoke(cli, ["import-silk", str(db), "--out", str(out), "--slow-sql-ms", "500"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout
    assert "imported 2 requests (1 unfinished), 0 slow SQL calls, 1 silk_profile blocks" in result.stderr
    assert "routes are the request paths with identifiers masked" in result.stderr
    assert len(out.read_text().splitlines()) == 2


def test_block_names_lose_their_identifiers(tmp_path: Path) -> None:
    db = make_db(tmp_path / "old.sqlite3", SILK_0001)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE silk_profile SET name = 'Check Permission #4242 for bob@example.org'")
    conn.commit()
    conn.close()
    import_silk(str(db), tmp_path / "out.jsonl")
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert first["calls"][0]["name"] == "Check Permission #{id} for {id}"
