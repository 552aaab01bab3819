"""Django's own tasks (``django.tasks``, Django 6.0+), and the ``django-tasks`` backport below 6.0."""

from __future__ import annotations

from async_audit.extract.base import Call, StubGenerator
from async_audit.extract.spec import TaskSpec


class DjangoTasksGenerator(StubGenerator):
    name = "django_tasks"
    label = "Django tasks"
    retries = (
        "Django's task framework does not retry: a failed run is kept on its TaskResult (FAILED, with the "
        "traceback); run the management command to try again by hand."
    )

    def extra_import_code(self, spec: TaskSpec) -> str:
        # One module for both stacks: the backport has the same API under another name.
        return (
            "try:\n"
            "    from django.tasks import task  # Django 6.0 and later\n"
            "except ImportError:  # older Django: the django-tasks backport\n"
            "    from django_tasks import task"
        )

    def enqueue_callable(self, task: str) -> str:
        return f"{task}.enqueue"

    def run_now(self, task: str, kwargs: list[str]) -> Call:
        return Call(f"{task}.call", list(kwargs))
