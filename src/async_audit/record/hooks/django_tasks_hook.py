"""Django's tasks framework: ``Task.enqueue`` and ``Task.aenqueue``, in ``django.tasks`` (Django >= 6.0)
and in the ``django_tasks`` backport (older Django, or installed beside Django 6 for its backends).

``backend`` is the backend's dotted class path (``django.tasks.backends.immediate.ImmediateBackend``,
``django_tasks_db.DatabaseBackend``...). The ImmediateBackend runs the task inside ``enqueue``: ``inline``
is true and what the task does is recorded under the enqueue.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from async_audit.record.hooks._task import TaskInfo, async_task_wrapper, dotted, task_wrapper
from async_audit.record.hooks.base import Hook

_task_classes: list[type] = []
_immediate: list[type] = []

try:
    from django.tasks.backends.immediate import ImmediateBackend as _DjangoImmediate
    from django.tasks.base import Task as _DjangoTask
except ImportError:  # Django < 6.0
    pass
else:
    _task_classes.append(_DjangoTask)
    _immediate.append(_DjangoImmediate)

try:
    from django_tasks.backends.immediate import ImmediateBackend as _BackportImmediate
    from django_tasks.base import Task as _BackportTask
except ImportError:  # the backport is not installed
    pass
else:
    _task_classes.append(_BackportTask)
    _immediate.append(_BackportImmediate)

if not _task_classes:
    raise ImportError("neither django.tasks (Django >= 6.0) nor the django_tasks backport is installed")

_IMMEDIATE = tuple(_immediate)


def describe_enqueue(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo:
    name = str(task.module_path)
    queue = task.queue_name
    queue = None if queue is None else str(queue)
    try:
        backend = task.get_backend()
    except Exception:  # noqa: BLE001 - a misconfigured alias: enqueue raises it to the site, not us
        return TaskInfo(name, str(task.backend), queue, False)
    return TaskInfo(name, dotted(type(backend)), queue, isinstance(backend, _IMMEDIATE))


class DjangoTasksHook(Hook):
    """Enqueues through ``django.tasks`` and its backport."""

    name = "django.tasks"
    requires = ()

    @classmethod
    def available(cls) -> bool:
        return any(
            importlib.util.find_spec(module) is not None for module in ("django.tasks", "django_tasks")
        )

    def _install(self) -> None:
        for task_class in _task_classes:
            self.patch(task_class, "enqueue", task_wrapper("django.tasks", describe_enqueue))
            self.patch(task_class, "aenqueue", async_task_wrapper("django.tasks", describe_enqueue))
