"""RQ through django-rq's ``@job`` decorator (queues and connections from ``RQ_QUEUES``)."""

from __future__ import annotations

from async_audit.extract.base import StubGenerator
from async_audit.extract.spec import ImportSpec, TaskSpec


class RQGenerator(StubGenerator):
    name = "rq"
    label = "RQ (django-rq)"
    retries = (
        "RQ retries a failed job 5 times, 10 s, 1 min and 5 min apart; a job running over 120 s is "
        "killed and counts as failed."
    )

    def task_imports(self, spec: TaskSpec) -> list[ImportSpec]:
        return [ImportSpec("django_rq", "job"), ImportSpec("rq", "Retry")]

    def enqueue_callable(self, task: str) -> str:
        return f"{task}.delay"
