"""django-q2: a plain function, enqueued with ``async_task``."""

from __future__ import annotations

from async_audit.extract.base import PARTIAL, TRANSACTION, Call, StubGenerator
from async_audit.extract.spec import ImportSpec

ASYNC_TASK = ImportSpec("django_q.tasks", "async_task")


class DjangoQGenerator(StubGenerator):
    name = "django_q"
    label = "django-q2"
    retries = (
        "django-q2 sets retries and time limits per cluster: Q_CLUSTER's 'timeout' must stay below its "
        "'retry', and 'max_attempts' caps how often a failed task is tried again."
    )

    def enqueue_callable(self, task: str) -> str:
        return "async_task"

    def _args(self, task: str, kwargs: list[str]) -> list[str | Call]:
        return [task, *kwargs, f'task_name="{task}"']

    def enqueue(self, task: str, kwargs: list[str]) -> tuple[Call, list[ImportSpec]]:
        return Call("async_task", self._args(task, kwargs)), [ASYNC_TASK]

    def on_commit(self, task: str, kwargs: list[str]) -> tuple[Call, list[ImportSpec]]:
        inner = Call("partial", ["async_task", *self._args(task, kwargs)])
        return Call("transaction.on_commit", [inner]), [PARTIAL, TRANSACTION, ASYNC_TASK]
