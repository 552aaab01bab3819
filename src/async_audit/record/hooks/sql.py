"""SQL, through Django's official hook: ``connection.execute_wrapper``, so raw cursor SQL counts too.

Every statement on every connection adds to the request's ``db`` count and time; statements slower than
``SLOW_SQL_MS`` are recorded as ``sql`` calls, as parameter-free fingerprints. The wrapper joins each
connection once, when it connects, and costs one ContextVar lookup outside a request.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from async_audit.record.guard import guarded
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
        with guarded():
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


def _attach(connection: BaseDatabaseWrapper) -> None:
    if _execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_execute_wrapper)


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
            while _execute_wrapper in connection.execute_wrappers:
                connection.execute_wrappers.remove(_execute_wrapper)
