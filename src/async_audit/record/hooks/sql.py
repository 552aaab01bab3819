"""SQL, through Django's official hook: ``connection.execute_wrapper``, so raw cursor SQL counts too.

Every statement on every connection adds to the request's ``db`` count and time; statements slower than
``SLOW_SQL_MS`` are recorded as ``sql`` calls, as parameter-free fingerprints. The wrapper joins each
connection once, when it connects, and costs one ContextVar lookup outside a request. Where django-silk is
installed, silk's own statements are left out (a substring test per statement; a short frame walk for
EXPLAIN and transaction statements only).
"""

from __future__ import annotations

import re
import sys
import time
from types import FrameType
from typing import Any

from django.apps import apps
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from async_audit.record.guard import guarded, report_internal_error
from async_audit.record.hooks.base import Hook
from async_audit.record.privacy import sql_fingerprint
from async_audit.record.trace import add_finished_call, current_trace


def _execute_wrapper(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    trace = current_trace.get()
    if trace is None or trace.closed:
        return execute(sql, params, many, context)
    start = time.perf_counter_ns()
    try:
        return execute(sql, params, many, context)
    finally:
        end = time.perf_counter_ns()
        # guarded() written out: this runs for every statement of a request.
        try:
            trace.db_n += 1
            trace.db_ns += end - start
            if end - start >= trace.slow_sql_ns:
                connection = context.get("connection")
                add_finished_call(
                    "sql",
                    "django.db",
                    start,
                    end,
                    depth=2,
                    alias=str(getattr(connection, "alias", "default")),
                    sql=sql_fingerprint(str(sql)),
                )
        except Exception as error:  # the recorder's own: reported, never raised into the site
            report_internal_error(error)


# django-silk's own statements (its rows, written in its middleware, and the EXPLAIN it runs after each query)
# are silk's cost, not the site's: beside silk, the wrapper leaves them out of the request's figures.
_SILK_TABLE = re.compile(r"[\"`]silk_(?:request|response|sqlquery|profile)")
_SILK_HEADS = ("EXPLAIN", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")


def _from_silk(sql: Any) -> bool:
    text = sql if isinstance(sql, str) else str(sql)
    if "silk_" in text and _SILK_TABLE.search(text):
        return True
    if not text[:10].lstrip().upper().startswith(_SILK_HEADS):
        return False
    # EXPLAIN and transaction statements: silk's when the innermost frame outside Django is silk's (other than
    # its ORM patch, which every site query passes through).
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith("silk."):
            return not (module == "silk.sql" and frame.f_code.co_name == "execute_sql")
        if not module.startswith("django."):
            return False
        frame = frame.f_back
    return False


def _execute_wrapper_beside_silk(
    execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    if current_trace.get() is not None and _from_silk(sql):
        return execute(sql, params, many, context)
    return _execute_wrapper(execute, sql, params, many, context)


def _wrapper() -> Any:
    """The plain wrapper, or the one that leaves silk's statements out where silk is installed."""
    try:
        beside_silk = apps.is_installed("silk")
    except Exception:  # the app registry is not ready: decide by whether silk can be imported at all
        beside_silk = "silk" in sys.modules
    return _execute_wrapper_beside_silk if beside_silk else _execute_wrapper


def _attach(connection: BaseDatabaseWrapper) -> None:
    wrapper = _wrapper()
    if wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(wrapper)


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    with guarded():
        _attach(connection)


class SqlHook(Hook):
    name = "sql"
    requires = ("django.db",)

    def _install(self) -> None:
        connection_created.connect(_on_connection_created, dispatch_uid="async_audit.sql")
        for connection in connections.all(initialized_only=True):
            _attach(connection)

    def _uninstall(self) -> None:
        connection_created.disconnect(dispatch_uid="async_audit.sql")
        for connection in connections.all(initialized_only=True):
            for wrapper in (_execute_wrapper, _execute_wrapper_beside_silk):
                while wrapper in connection.execute_wrappers:
                    connection.execute_wrappers.remove(wrapper)
