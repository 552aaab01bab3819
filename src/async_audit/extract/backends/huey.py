"""Huey through ``huey.contrib.djhuey`` (``@db_task``), enqueued explicitly with ``HUEY.enqueue``."""

from __future__ import annotations

from async_audit.extract.base import PARTIAL, TRANSACTION, Call, StubGenerator
from async_audit.extract.spec import ImportSpec, TaskSpec

HUEY = ImportSpec("huey.contrib.djhuey", "HUEY")


class HueyGenerator(StubGenerator):
    name = "huey"
    label = "Huey"
    retries = (
        "Huey retries a failed task 5 times, 10 s apart and doubling; db_task closes the database "
        "connection after each run."
    )

    def task_imports(self, spec: TaskSpec) -> list[ImportSpec]:
        return [ImportSpec("huey.contrib.djhuey", "db_task")]

    def enqueue_callable(self, task: str) -> str:
        return "HUEY.enqueue"

    def _signature(self, task: str, kwargs: list[str]) -> Call:
        # task.s(...) only builds the message; calling the task itself would enqueue it as well, but reads
        # like a plain function call (and runs inline in immediate mode), so the enqueue is spelled out.
        return Call(f"{task}.s", list(kwargs))

    def enqueue(self, task: str, kwargs: list[str]) -> tuple[Call, list[ImportSpec]]:
        return Call("HUEY.enqueue", [self._signature(task, kwargs)]), [HUEY]

    def on_commit(self, task: str, kwargs: list[str]) -> tuple[Call, list[ImportSpec]]:
        inner = Call("partial", ["HUEY.enqueue", self._signature(task, kwargs)])
        return Call("transaction.on_commit", [inner]), [PARTIAL, TRANSACTION, HUEY]

    def run_now(self, task: str, kwargs: list[str]) -> Call:
        return Call(f"{task}.call_local", list(kwargs))
