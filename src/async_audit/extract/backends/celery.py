"""Celery (``shared_task``), enqueued with ``delay_on_commit`` where the installed Celery has it."""

from __future__ import annotations

from async_audit.extract.base import Call, StubGenerator
from async_audit.extract.spec import ImportSpec, TaskSpec


class CeleryGenerator(StubGenerator):
    name = "celery"
    label = "Celery"
    retries = (
        "Transient errors (OSError covers socket, SMTP and requests errors) are retried with exponential "
        "backoff and jitter, at most 5 times; acks_late re-runs a task whose worker died mid-way."
    )

    def __init__(self, delay_on_commit: bool | None = None) -> None:
        self.delay_on_commit = celery_has_delay_on_commit() if delay_on_commit is None else delay_on_commit

    def task_imports(self, spec: TaskSpec) -> list[ImportSpec]:
        return [ImportSpec("celery", "shared_task")]

    def enqueue_callable(self, task: str) -> str:
        return f"{task}.delay"

    def on_commit(self, task: str, kwargs: list[str]) -> tuple[Call, list[ImportSpec]]:
        if self.delay_on_commit:
            # Celery 5.4+ with Django: DjangoTask.delay_on_commit wraps transaction.on_commit itself.
            return Call(f"{task}.delay_on_commit", list(kwargs)), []
        return super().on_commit(task, kwargs)


def celery_has_delay_on_commit() -> bool:
    """True when the Celery importable here is 5.4 or later (``DjangoTask.delay_on_commit``)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        parts = version("celery").split(".")
        return (int(parts[0]), int(parts[1])) >= (5, 4)
    except (PackageNotFoundError, ValueError, IndexError):
        return False
