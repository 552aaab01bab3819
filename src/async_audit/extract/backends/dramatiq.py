"""Dramatiq actors (``@dramatiq.actor``), enqueued with ``send``."""

from __future__ import annotations

from async_audit.extract.base import StubGenerator
from async_audit.extract.spec import ImportSpec, TaskSpec


class DramatiqGenerator(StubGenerator):
    name = "dramatiq"
    label = "Dramatiq"
    retries = (
        "Dramatiq retries a failed message 5 times with exponential backoff (10 s to 10 min) and "
        "interrupts an actor running over 120 s."
    )

    def task_imports(self, spec: TaskSpec) -> list[ImportSpec]:
        return [ImportSpec("dramatiq")]

    def enqueue_callable(self, task: str) -> str:
        return f"{task}.send"
