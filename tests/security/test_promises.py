"""One test per promise of ``docs/security.md`` (P1 to P10).

The privacy promises are checked end to end: real requests through the recorder (with real outbound calls to a
stand-in API on 127.0.0.1, real SQL, real email), then the report in every format from the record files.
A secret must appear in neither; and the stand-in API must have received it, so its absence proves something.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.test import Client, override_settings

from async_audit.analyze import AnalysisOptions, build_report
from async_audit.analyze.load import load_records
from async_audit.cli import cli
from async_audit.errors import InputError
from async_audit.extract import attach_stubs
from async_audit.record.hooks import installed_hooks
from async_audit.record.sink import FileOutput, Sink, get_sink, reset_sink
from async_audit.report import DEFAULT_FORMATS, write_reports
from tests.analyze import records as rec
from tests.record.hooks.conftest_mail import LOCMEM, use_mailer
from tests.security.views import URL_SECRETS, presigned_s3
from tests.site.privacy_views import SECRETS

ROOT = Path(__file__).resolve().parents[2]


# -- a stand-in API that remembers what it was sent --


@dataclass
class Api:
    port: int
    received: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[str]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.received.append(self.path)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[Api]:
    received: list[str] = []
    handler = type("Handler", (_Handler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Api(server.server_address[1], received)
    server.shutdown()
    server.server_close()


# -- recording, then reporting --


@dataclass
class Audit:
    records: str
    reports: dict[str, str]

    def leaks(self, secret: str) -> list[str]:
        """Where ``secret`` (or its lower-case form) shows up: ``records`` or a report format."""
        texts = {"records": self.records, **self.reports}
        return [name for name, text in texts.items() if secret.lower() in text.lower()]


def audit(tmp_path: Path, drive: Callable[[Client], None]) -> Audit:
    """Record what ``drive`` does through the test site, then write the report (all formats, stubs)."""
    records_dir = tmp_path / "records"
    settings = {"OUTPUT_DIR": str(records_dir), "SLOW_SQL_MS": 0, "PROJECT_ROOTS": ["tests"]}
    with override_settings(ASYNC_AUDIT=settings, ROOT_URLCONF="tests.security.views"), use_mailer(LOCMEM):
        reset_sink()
        try:
            drive(Client(raise_request_exception=True))
            assert get_sink().flush()
        finally:
            reset_sink()
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(records_dir.glob("*.jsonl")))
    report = build_report([records_dir], AnalysisOptions())
    attach_stubs(report, "celery", None)
    written = write_reports(report, tmp_path / "report", DEFAULT_FORMATS)
    return Audit(text, {p.suffix.lstrip("."): p.read_text(encoding="utf-8") for p in written})


def drive_outbound(api: Api) -> Callable[[Client], None]:
    def drive(client: Client) -> None:
        s = URL_SECRETS
        response = client.get(
            f"/security/outbound/{s['incoming_path_token']}/?port={api.port}&token={s['incoming_token']}"
        )
        assert response.json()["statuses"] == [200, 200, 200, 200]

    return drive


def drive_privacy_view(api: Api) -> Callable[[Client], None]:
    def drive(client: Client) -> None:
        s = SECRETS
        response = client.post(
            f"/privacy/accounts/{s['path_email']}/reset/{s['path_token']}/"
            f"?q={s['query']}&email={s['query_email']}&port={api.port}",
            data=s["body"],
            content_type="text/plain",
            HTTP_AUTHORIZATION=f"Bearer {s['header']}",
            HTTP_COOKIE=f"sessionid={s['cookie']}",
        )
        assert response.status_code == 200 and response.json()["sent"] == 1

    return drive


def http_calls(records: str) -> list[dict[str, Any]]:
    return [c for line in records.splitlines() for c in json.loads(line)["calls"] if c["kind"] == "http"]


needs_http_hooks = pytest.mark.skipif(
    not {"http.client", "httpx"} <= set(installed_hooks()), reason="the HTTP hooks are not installed here"
)


# -- P1 to P5: what never reaches a record or a report --


@needs_http_hooks
@pytest.mark.django_db(transaction=True)
def test_p1_secrets_in_urls_reach_neither_records_nor_reports(tmp_path: Path, api: Api) -> None:
    result = audit(tmp_path, drive_outbound(api))
    calls = http_calls(result.records)
    assert len(calls) == 4 and {c["host"] for c in calls} == {"127.0.0.1"}
    assert {c["path"] for c in calls} == {
        "/ledgerly-uploads/invoices/{id}/invoice-{id}.pdf",
        "/password-reset/{id}/confirm/",
        "/hooks/{id}",
        "/v1/status",
    }
    assert presigned_s3(api.port).split(str(api.port), 1)[1] in api.received  # it really went out, whole
    for name in ("aws_access_key", "amz_signature", "amz_security_token", "api_key", "gcs_signature",
                 "url_password", "incoming_token"):  # fmt: skip
        assert not result.leaks(URL_SECRETS[name]), name
    for marker in ("X-Amz-", "?sig=", "api_key=", "svc:"):
        assert not result.leaks(marker), marker


@needs_http_hooks
@pytest.mark.django_db(transaction=True)
def test_p2_tokens_and_identifiers_in_paths_are_masked(tmp_path: Path, api: Api) -> None:
    result = audit(tmp_path, drive_outbound(api))
    assert any(URL_SECRETS["reset_token"] in path for path in api.received)
    assert "security/outbound/<str:token>/" in result.records  # the route pattern, not the path
    for name in ("reset_token", "jwt", "incoming_path_token", "object_owner"):
        assert not result.leaks(URL_SECRETS[name]), name
    assert not result.leaks("20261128")  # the date inside the object's file name


@pytest.mark.django_db(transaction=True)
def test_p3_email_addresses_reach_neither_records_nor_reports(tmp_path: Path, api: Api) -> None:
    result = audit(tmp_path, drive_privacy_view(api))
    assert '"kind":"email"' in result.records or "django.mail" not in installed_hooks()
    for name in ("path_email", "query_email", "sql_email", "url_email", "mail_to", "mail_from"):
        assert not result.leaks(SECRETS[name]), name
    assert "@" not in result.records
    for fmt, text in result.reports.items():
        assert "@example.com" not in text, fmt
    assert not result.leaks(SECRETS["mail_subject"])


@pytest.mark.django_db(transaction=True)
def test_p4_sql_parameters_and_literals_reach_neither_records_nor_reports(tmp_path: Path, api: Api) -> None:
    result = audit(tmp_path, drive_privacy_view(api))
    statements = [
        c["sql"]
        for line in result.records.splitlines()
        for c in json.loads(line)["calls"]
        if c["kind"] == "sql"
    ]
    assert any("testsite_note" in sql for sql in statements)
    for name in ("sql_param", "sql_literal", "sql_email", "query", "body"):
        assert not result.leaks(SECRETS[name]), name


@pytest.mark.django_db(transaction=True)
def test_p5_bodies_headers_and_cookies_reach_neither_records_nor_reports(tmp_path: Path, api: Api) -> None:
    result = audit(tmp_path, drive_privacy_view(api))
    assert "privacy/accounts/<str:email>/reset/<str:token>/" in result.records
    for name in ("body", "header", "cookie", "path_token", "url_password", "url_user", "url_query"):
        assert not result.leaks(SECRETS[name]), name
    assert not result.leaks("sessionid") and not result.leaks("Bearer")


# -- P6: permissions --


def test_p6_record_files_are_0600_and_a_created_directory_0700_whatever_the_umask(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    sink = Sink(lambda: FileOutput(directory, 1 << 20), 100)
    old = os.umask(0)
    try:
        sink.put(rec.request(12.0))
        assert sink.flush()
    finally:
        os.umask(old)
        sink.close()
    (path,) = directory.glob("*.jsonl")
    assert path.stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700


# -- P7: escaping for each format --

HOSTILE = {
    "route": 'pay/<img src=x onerror=alert(1)>/"><script>alert(2)</script>',
    "method": "<svg/onload=alert(3)>",
    "host": "evil.example\u2028</script><script>alert(4)</script>",
    "task": '=HYPERLINK("http://evil.example","click")',
    "block": "[click](javascript:alert(5)) ![img](http://evil.example/x.png) | col |\n# heading",
    "file": "shop/<b>views</b>.py",
    "function": "@SUM(1+1)*cmd|' /C calc'!A0",
}


def hostile_records(path: Path) -> Path:
    h = HOSTILE
    where = rec.site(h["file"], 7, h["function"])
    calls = [
        rec.http(1.0, 900.0, host=h["host"], path="/x/<script>", at=where),
        rec.call("task", 950.0, 40.0, task=h["task"], at=where),
        rec.call("block", 1000.0, 800.0, name=h["block"], at=where),
        rec.email(1900.0, 700.0, at=where),
    ]
    records = [
        rec.request(2700.0 + n, [dict(c) for c in calls], route=h["route"], method=h["method"])
        for n in range(5)
    ]
    return rec.write(path, records)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_p7_every_format_escapes_hostile_recorded_text(tmp_path: Path) -> None:
    report = build_report([hostile_records(tmp_path / "hostile.jsonl")], AnalysisOptions())
    assert report.findings
    written = {
        p.suffix: p.read_text(encoding="utf-8") for p in write_reports(report, tmp_path, DEFAULT_FORMATS)
    }

    html = _Elements()
    html.feed(written[".html"])
    assert not [tag for tag, _ in html.tags if tag in ("script", "img", "iframe", "object", "embed")]
    assert not [(tag, name) for tag, attrs in html.tags for name, _ in attrs if name.startswith("on")]
    hrefs = [value or "" for _, attrs in html.tags for name, value in attrs if name in ("href", "src")]
    assert not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "http:", "https:", "//"))]
    assert "&lt;script&gt;" in written[".html"]  # shown as text, not dropped

    md = written[".md"]
    for raw in ("<script>", "<img", "<svg", "](javascript:", "![img]("):
        assert raw not in md, raw
    assert "\n# heading" not in md

    import csv
    import io

    rows = list(csv.reader(io.StringIO(written[".csv"], newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert any("HYPERLINK" in cell for cell in cells) or any("SUM" in cell for cell in cells)
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not _number(c))]

    document = json.loads(written[".json"])
    assert document["findings"]
    for raw in ("<", ">", "&", "\u2028"):
        assert raw not in written[".json"], raw
    sarif = json.loads(written[".sarif"])
    for result in sarif["runs"][0]["results"]:
        text = result["message"]["text"]
        assert not any(ord(ch) < 0x20 or ch in "\u2028\u2029" for ch in text)
        assert not re.search(r"(?<!\\)\]\(", text)  # SARIF's link syntax, unescaped


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- P8: hostile record files --

BROKEN_FILES: dict[str, bytes] = {
    "binary": bytes(range(256)) * 4,
    "nested": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "huge numbers": json.dumps(rec.request(1.0)).replace('"ms": 1.0', '"ms": 1e999').encode() + b"\n",
    "NaN": json.dumps(rec.request(float("nan"))).encode() + b"\n",
    "wrong types": b'{"v": 1, "id": 5, "ts": "x", "route": [], "calls": {"a": 1}, "ms": null}\n',
    "future version": json.dumps({**rec.request(1.0), "v": 2}).encode() + b"\n",
    "torn": json.dumps(rec.request(3.0)).encode()[:40],
    "bom and crlf": b"\xef\xbb\xbf" + json.dumps(rec.request(3.0)).encode() + b"\r\n",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_p8_a_hostile_record_file_is_an_input_error_or_a_report_never_a_traceback(
    name: str, tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(BROKEN_FILES[name])
    try:
        load_records([path])
    except InputError:
        pass
    result = CliRunner().invoke(cli, ["report", str(path), "--out", str(tmp_path / "out"), "-f", "json"])
    assert result.exit_code in (0, 2), result.output
    assert isinstance(result.exception, SystemExit | type(None)), result.exception
    assert "Traceback" not in result.output


# -- P9: the command line writes only inside what it was given --


def _planted_link(directory: Path, name: str, outside: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / name
    link.symlink_to(outside)
    return link


def _silk_database(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(
        textwrap.dedent(
            """
            CREATE TABLE silk_request (id TEXT, path TEXT, method TEXT, start_time TEXT, end_time TEXT,
                                       view_name TEXT, time_taken REAL, query_params TEXT, body TEXT);
            CREATE TABLE silk_response (request_id TEXT, status_code INTEGER);
            CREATE TABLE silk_sqlquery (request_id TEXT, query TEXT, start_time TEXT, end_time TEXT,
                                        time_taken REAL, traceback TEXT);
            CREATE TABLE silk_profile (request_id TEXT, name TEXT, start_time TEXT, end_time TEXT,
                                       time_taken REAL, file_path TEXT, line_num INTEGER, func_name TEXT);
            INSERT INTO silk_request VALUES ('r1', '/accounts/alice@example.com/', 'GET',
                '2026-11-28 01:00:00.000000', '2026-11-28 01:00:01.000000', 'accounts.views.show', 1000.0,
                '{"token": "silk-query-secret"}', 'silk-body-secret');
            INSERT INTO silk_response VALUES ('r1', 200);
            """
        )
    )
    db.commit()
    db.close()
    return path


def test_p9_the_cli_never_writes_outside_what_it_was_given(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    runner = CliRunner()

    # report: a link planted at a report's name is replaced, not followed.
    records = hostile_records(tmp_path / "records.jsonl")
    out = tmp_path / "report"
    link = _planted_link(out, "async-audit-report.md", outside)
    result = runner.invoke(cli, ["report", str(records), "--out", str(out), "-f", "md"])
    assert result.exit_code == 0, result.output
    assert outside.read_text() == "untouched" and not link.is_symlink()

    # stubs: a record whose call site climbs out of the project, and a link inside --out pointing outside.
    escaping = rec.site("../../../escape/views.py", 3, "signup")
    climbing = [rec.request(2000.0, [rec.email(10.0, 900.0, at=escaping)]) for _ in range(5)]
    stubs_out = tmp_path / "stubs"
    for records_path in (rec.write(tmp_path / "climbing.jsonl", climbing),):
        result = runner.invoke(
            cli, ["stubs", str(records_path), "--backend", "celery", "--out", str(stubs_out)]
        )
        assert result.exit_code in (0, 2), result.output
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()
    for written in stubs_out.rglob("*"):
        assert written.resolve().is_relative_to(stubs_out.resolve()), written
    (tmp_path / "elsewhere").mkdir()
    linked_out = tmp_path / "stubs-linked"
    _planted_link(linked_out, "shop", tmp_path / "elsewhere")
    shop = [rec.request(2000.0, [rec.email(10.0, 900.0)]) for _ in range(5)]
    result = runner.invoke(
        cli,
        [
            "stubs",
            str(rec.write(tmp_path / "shop.jsonl", shop)),
            "--backend",
            "celery",
            "--out",
            str(linked_out),
        ],
    )
    assert result.exit_code == 2 and "outside" in result.output, result.output
    assert not list((tmp_path / "elsewhere").iterdir())

    # import-silk: a link at --out is replaced, not followed; and silk's secrets stay in silk's database.
    database = _silk_database(tmp_path / "silk.sqlite3")
    silk_out = _planted_link(tmp_path / "silk", "records.jsonl", outside)
    result = runner.invoke(cli, ["import-silk", str(database), "--out", str(silk_out)])
    assert result.exit_code == 0, result.output
    assert outside.read_text() == "untouched" and not silk_out.is_symlink()
    imported = silk_out.read_text()
    assert json.loads(imported.splitlines()[0])["route"] is not None or "accounts" in imported
    for secret in ("alice@example.com", "silk-query-secret", "silk-body-secret"):
        assert secret not in imported


# -- P10: a worker killed mid-write --

KILLED_WRITER = """
import os, sys, time
sys.path.insert(0, os.getcwd())
from async_audit.record.sink import FileOutput, Sink
from tests.analyze import records as rec

sink = Sink(lambda: FileOutput(sys.argv[1], 1 << 30), 100_000, interval=0.001)
record = rec.request(12.0, [rec.http(1.0, 5.0) for _ in range(40)])
print("ready", flush=True)
while True:
    sink.put(dict(record))
"""


def test_p10_a_worker_killed_mid_write_leaves_only_whole_records_the_loader_reads(tmp_path: Path) -> None:
    directory = tmp_path / "records"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(directory)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = 200
        while deadline and sum(p.stat().st_size for p in directory.glob("*.jsonl")) < 2_000_000:
            threading.Event().wait(0.05)
            deadline -= 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    lines = b"".join(p.read_bytes() for p in directory.glob("*.jsonl")).split(b"\n")
    whole = [line for line in lines if line.endswith(b"}")]
    torn = [line for line in lines if line and not line.endswith(b"}")]
    assert len(whole) > 100 and len(torn) <= 1
    loaded = load_records([directory])
    assert loaded.stats.records == len(whole)
    assert loaded.stats.skipped_lines == len(torn)
