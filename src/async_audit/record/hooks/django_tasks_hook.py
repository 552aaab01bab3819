"""Django's tasks framework: ``Task.enqueue`` and ``Task.aenqueue``, in ``django.tasks`` (Django >= 6.0)
and in the ``django_tasks`` backport (older Django, or installed beside Django 6 for its backends).

``backend`` is the backend's dotted class path (``django.tasks.backends.immediate.ImmediateBackend``,
``django_tasks_db.DatabaseBackend``...). The ImmediateBackend runs the task inside ``enqueue``: ``inline``
is true and what the task does is recorded under the enqueue.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from async_audit.record.hooks._imports import findable, forget, when_imported
from async_audit.record.hooks._task import TaskInfo, async_task_wrapper, dotted, task_wrapper
from async_audit.record.hooks.base import Hook

# The two packages, each patched when the site first imports it (the backport beside Django 6 is often
# installed for a backend, and not imported by the web processes).
PACKAGES = ("django.tasks", "django_tasks")
_IMMEDIATE: tuple[type, ...] = ()  # the ImmediateBackend classes of the packages patched so far


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
        return any(findable(package) for package in PACKAGES)

    def _install(self) -> None:
        for package in PACKAGES:
            if findable(package):
                when_imported(package, self._patch_package)

    def _patch_package(self, package: ModuleType) -> None:
        global _IMMEDIATE
        base = importlib.import_module(f"{package.__name__}.base")
        immediate = importlib.import_module(f"{package.__name__}.backends.immediate")
        self.patch(base.Task, "enqueue", task_wrapper("django.tasks", describe_enqueue))
        self.patch(base.Task, "aenqueue", async_task_wrapper("django.tasks", describe_enqueue))
        if immediate.ImmediateBackend not in _IMMEDIATE:
            _IMMEDIATE = (*_IMMEDIATE, immediate.ImmediateBackend)

    def _uninstall(self) -> None:
        forget(self._patch_package)
