"""Open the database django-silk wrote to, without Django: a SQLite file or a PostgreSQL URL, read-only.

Silk's schema (its migrations 0001-0009) has kept the columns read here since its first migration; what later
versions added (``prof_file``, ``identifier``, ``analysis``) is not needed. Columns are looked up by name, so
a table missing one that is required is reported by name, and optional ones fall back.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from async_audit.errors import InputError

__all__ = ["REQUIRED", "SilkDatabase", "inspect", "open_database", "redact_url"]

#: Tables and columns without which silk's data cannot be read. Anything else is optional.
REQUIRED: dict[str, tuple[str, ...]] = {
    "silk_request": ("id", "path", "method", "start_time", "end_time", "view_name"),
    "silk_response": ("request_id", "status_code"),
    "silk_sqlquery": ("request_id", "query", "start_time"),
    "silk_profile": ("request_id", "name", "start_time", "file_path", "line_num", "func_name"),
}
_ANY_TIME = ("time_taken", "end_time")  # a query or profile needs one of them for its duration


def redact_url(url: str) -> str:
    """A database URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass
class SilkDatabase:
    """A DB-API connection to silk's tables, with the columns each one has.

    ``connection`` may also be a Django connection (its ``cursor()`` follows DB-API), which is how
    ``manage.py async_audit import-silk`` reads through the site's own database settings.
    """

    connection: Any
    vendor: str  # "sqlite" or "postgresql"
    name: str  # for messages; never holds a password
    columns: dict[str, frozenset[str]]
    errors: tuple[type[BaseException], ...]

    def rows(self, sql: str, size: int = 2000) -> Iterator[Sequence[Any]]:
        """The rows of one SELECT, fetched in batches; database errors become one-line ``InputError``."""
        try:
            cursor = self.connection.cursor()
            try:
                cursor.execute(sql)
                while True:
                    batch = cursor.fetchmany(size)
                    if not batch:
                        break
                    yield from batch
            finally:
                cursor.close()
        except self.errors as exc:
            raise InputError(f"{self.name}: reading silk's tables failed: {_first_line(exc)}") from None

    def has(self, table: str, column: str) -> bool:
        return column in self.columns.get(table, frozenset())

    def close(self) -> None:
        self.connection.close()


def _sqlite(path: str) -> tuple[Any, tuple[type[BaseException], ...]]:
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such file (give a SQLite file or a postgresql:// URL)")
    # Read-only, so a wrong path never creates an empty database or touches the site's own.
    uri = "file:" + re.sub(r"[?#%]", lambda m: f"%{ord(m.group()):02X}", os.path.abspath(file)) + "?mode=ro"
    return sqlite3.connect(uri, uri=True), (sqlite3.Error,)


def _postgresql(url: str) -> tuple[Any, tuple[type[BaseException], ...]]:
    url = "postgresql://" + url.partition("://")[2]
    try:
        import psycopg
    except ImportError:
        try:
            import psycopg2  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            raise InputError(
                "reading PostgreSQL needs a driver: pip install 'psycopg[binary]' (or psycopg2-binary)"
            ) from None
        try:
            conn = psycopg2.connect(url)
        except psycopg2.Error as exc:
            raise InputError(f"{redact_url(url)}: cannot connect: {_first_line(exc)}") from None
        conn.set_session(readonly=True, autocommit=True)
        return conn, (psycopg2.Error,)
    try:
        conn = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise InputError(f"{redact_url(url)}: cannot connect: {_first_line(exc)}") from None
    return conn, (psycopg.Error,)


_TABLES_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ANY (current_schemas(false))"
    ),
}


def inspect(
    connection: Any,
    vendor: str,
    name: str,
    errors: tuple[type[BaseException], ...],
    table_names: Callable[[], list[str]] | None = None,
) -> SilkDatabase:
    """Check that ``connection`` holds silk's tables with the columns the importer needs.

    ``table_names`` lists the tables where the vendor is neither SQLite nor PostgreSQL (Django's
    introspection, inside a site).
    """
    db = SilkDatabase(connection, vendor, name, {}, errors)
    try:
        if table_names is not None:
            tables = set(table_names())
        else:
            tables = {str(row[0]) for row in db.rows(_TABLES_SQL[vendor])}
    except InputError as exc:  # "file is not a database", and the like
        raise InputError(f"{name}: not a database this can read ({str(exc).rpartition(': ')[2]})") from None
    silk_tables = sorted(t for t in tables if t.startswith("silk_"))
    if not silk_tables:
        what = "an empty database" if not tables else f"{len(tables)} tables, none of them silk's"
        raise InputError(f"{name}: no django-silk tables here ({what}); give the database silk writes to")
    missing = [t for t in REQUIRED if t not in tables]
    if missing:
        raise InputError(
            f"{name}: django-silk's schema is incomplete or from an unknown version: no table "
            f"{', '.join(missing)}; run `manage.py migrate silk` with django-silk 5 or later"
        )
    for table, required in REQUIRED.items():
        cursor = connection.cursor()
        try:
            cursor.execute(f"SELECT * FROM {table} WHERE 1 = 0")
            db.columns[table] = frozenset(str(d[0]) for d in cursor.description)
        except errors as exc:
            raise InputError(f"{name}: cannot read {table}: {_first_line(exc)}") from None
        finally:
            cursor.close()
        absent = [c for c in required if c not in db.columns[table]]
        if table in ("silk_sqlquery", "silk_profile") and not any(db.has(table, c) for c in _ANY_TIME):
            absent.append("time_taken")
        if absent:
            raise InputError(
                f"{name}: {table} has no column {', '.join(absent)}: an older or unknown django-silk schema; "
                "run `manage.py migrate silk` with django-silk 5 or later"
            )
    return db


def open_database(database: str) -> SilkDatabase:
    """Connect to ``database`` (a SQLite file path, or a ``postgresql://`` URL) and check silk's schema."""
    scheme = database.partition("://")[0].lower() if "://" in database else ""
    if scheme in ("postgresql", "postgres"):
        conn, errors = _postgresql(database)
        vendor, name = "postgresql", redact_url(database)
    elif scheme in ("", "sqlite", "file"):
        path = database.partition("://")[2] if scheme else database
        conn, errors = _sqlite(path)
        vendor, name = "sqlite", path
    else:
        raise InputError(
            f"{redact_url(database)}: unsupported database; give a SQLite file or a postgresql:// URL"
        )
    try:
        return inspect(conn, vendor, name, errors)
    except BaseException:
        conn.close()
        raise
