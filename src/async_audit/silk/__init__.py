"""Import what django-silk already recorded, so a site running silk is audited without installing anything.

::

    stats = import_silk("db.sqlite3", Path("silk.jsonl"))                 # or "postgresql://..."
    stats = import_silk(url, out, resolver=django_resolver("mysite.settings"))  # routes from the URLconf
    stats = import_silk_django(out)                                       # inside a site (manage.py)

The records are version 1 (``docs/architecture.md``) with ``proto`` ``"silk"``; the analyzer reads them like
any other and says in the report what silk cannot show (outbound HTTP, email).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from async_audit.errors import InputError
from async_audit.silk.database import SilkDatabase, inspect, open_database
from async_audit.silk.importer import DEFAULT_SLOW_SQL_MS, ImportStats, Resolver, write_records
from async_audit.silk.routes import django_resolver, site_project_roots, site_resolver

__all__ = [
    "DEFAULT_SLOW_SQL_MS",
    "ImportStats",
    "Resolver",
    "django_resolver",
    "import_silk",
    "import_silk_django",
    "site_resolver",
]


@contextmanager
def _atomic_output(out: Path) -> Iterator[IO[str]]:
    """Write ``out`` whole or not at all: a failed import leaves no half-written file behind."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise InputError(f"{out}: cannot write here ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _run(
    db: SilkDatabase,
    out: Path,
    slow_sql_ms: float,
    project_roots: Sequence[str | tuple[str, str]],
    resolver: Resolver | None,
) -> ImportStats:
    stats = ImportStats(database=db.name, out=Path(out))
    try:
        with _atomic_output(Path(out)) as fh:
            write_records(
                db, fh, stats, slow_sql_ms=slow_sql_ms, project_roots=project_roots, resolver=resolver
            )
    finally:
        db.close()
    return stats


def import_silk(
    database: str,
    out: Path,
    *,
    slow_sql_ms: float = DEFAULT_SLOW_SQL_MS,
    project_root: str | None = None,
    resolver: Resolver | None = None,
) -> ImportStats:
    """Read silk's tables from ``database`` (a SQLite file, or a ``postgresql://`` URL) into ``out`` (JSONL).

    No Django set-up is needed: the database is read through its DB-API driver, read-only. Routes are
    resolved by ``resolver`` (see :func:`django_resolver`), else they are the paths with identifiers masked.
    ``project_root`` is the project's directory on the host silk ran on (file paths are made relative to
    it); by default the deepest directory holding every project file silk named. Raises ``InputError`` (one
    line) for a missing file, a foreign, empty or outdated database, or one without requests.
    """
    db = open_database(database)
    return _run(db, out, slow_sql_ms, [project_root] if project_root else [], resolver)


def import_silk_django(
    out: Path, *, slow_sql_ms: float = DEFAULT_SLOW_SQL_MS, using: str | None = None
) -> ImportStats:
    """The same, inside a configured Django site: silk's database connection, URLconf and project roots."""
    from django.apps import apps
    from django.db import DatabaseError, connections, router

    if not apps.is_installed("silk"):
        raise InputError("django-silk is not in INSTALLED_APPS: there is nothing of silk's to import")
    from silk.models import Request

    alias = using or router.db_for_read(Request) or "default"
    connection: Any = connections[alias]

    def table_names() -> list[str]:
        with connection.cursor() as cursor:
            names: list[str] = connection.introspection.table_names(cursor)
        return names

    vendor = connection.vendor if connection.vendor in ("sqlite", "postgresql") else "other"
    db = inspect(
        connection,
        vendor,
        f"database {alias!r}",
        (DatabaseError,),
        table_names=table_names if vendor == "other" else None,
    )
    db.close = lambda: None  # type: ignore[method-assign]  # the site's connection is Django's to close
    return _run(db, out, slow_sql_ms, site_project_roots(), site_resolver())
