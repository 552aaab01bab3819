"""The silk test site, run in its own processes (its settings differ from the suite's), and a PostgreSQL
server started for the session where the machine has one."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("silk")

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SilkRun:
    """One run of the silk test site: silk's database, and what async-audit recorded beside silk."""

    database: str
    records: list[dict[str, Any]]
    killed: int
    imported_in_site: Path | None


def run_site(database: str, work: Path, order: str = "audit-first", import_in_site: bool = False) -> SilkRun:
    """Drive the silk test site (``tests/silk/drive.py``) in a subprocess and collect what it left."""
    result = work / f"result-{order}.json"
    imported = work / f"in-site-{order}.jsonl" if import_in_site else None
    env = {
        **os.environ,
        "SILK_TEST_DB": database,
        "SILK_TEST_ORDER": order,
        "SILK_TEST_RECORDS": str(work / "records"),
        "DJANGO_SETTINGS_MODULE": "tests.silk.settings",
        "PYTHONWARNINGS": "error",
    }
    args = [sys.executable, "-m", "tests.silk.drive", str(result)]
    if imported is not None:
        args.append(str(imported))
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(result.read_text())
    return SilkRun(database, data["records"], data["killed"], imported)


@pytest.fixture(scope="session")
def silk_sqlite(tmp_path_factory: pytest.TempPathFactory) -> SilkRun:
    work = tmp_path_factory.mktemp("silk-sqlite")
    return run_site(str(work / "db.sqlite3"), work, "audit-first", import_in_site=True)


@pytest.fixture(scope="session")
def silk_sqlite_silk_first(tmp_path_factory: pytest.TempPathFactory) -> SilkRun:
    work = tmp_path_factory.mktemp("silk-sqlite-silk-first")
    return run_site(str(work / "db.sqlite3"), work, "silk-first")


# PostgreSQL ---------------------------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):  # Debian's layout
        if os.path.exists(os.path.join(candidate, "initdb")):
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 for the session (initdb, pg_ctl), with an empty database ``silk``."""
    pytest.importorskip("psycopg", reason="psycopg (v3) is needed to talk to PostgreSQL")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get install postgresql)")
    prefix: list[str] = []
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as Debian's postgres user
        import pwd

        runuser = shutil.which("runuser")
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            entry = None
        if runuser is None or entry is None:
            pytest.skip("running as root without a postgres user and runuser: cannot start PostgreSQL")
        prefix = [runuser, "-u", "postgres", "--"]
        owner = (entry.pw_uid, entry.pw_gid)
    base = Path(tempfile.mkdtemp(prefix="async-audit-pg-"))
    if owner is not None:
        os.chown(base, *owner)
    data, port = base / "data", _free_port()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)

    try:
        init = run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if init.returncode != 0:
            pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = run(
            str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"
        )
        if start.returncode != 0:
            pytest.skip(f"pg_ctl start failed: {start.stderr.strip()[-300:]}")
        try:
            import psycopg

            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE silk")
            yield f"postgresql://postgres@127.0.0.1:{port}/silk"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
