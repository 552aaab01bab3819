"""Celery enqueues: ``Task.apply_async`` (``delay`` and ``signature(...).delay()`` go through it) and
``Celery.send_task`` (a task by name, often one served by another code base).

``delay_on_commit``/``apply_async_on_commit`` hand ``delay``/``apply_async`` to ``transaction.on_commit``,
so the enqueue is recorded when it happens: at once outside a transaction, at commit inside one. With
``task_always_eager`` the task runs inside ``apply_async``: ``inline`` is true and what the task does is
recorded under the enqueue.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import celery
from celery.app.task import Task

from async_audit.record.hooks._task import TaskInfo, task_wrapper
from async_audit.record.hooks.base import Hook

# Set while a non-eager apply_async runs: its app.send_task is the same enqueue.
_sending: ContextVar[bool] = ContextVar("async_audit_celery_sending", default=False)


def _queue_name(queue: Any) -> str | None:
    if queue is None:
        return None
    if isinstance(queue, str):
        return queue
    name = getattr(queue, "name", None)  # a kombu Queue
    return name if isinstance(name, str) else str(queue)


def _default_queue(app: Any) -> str | None:
    conf = app.conf
    # With routes configured the router decides at send time; repeating its work here would cost more
    # than the enqueue, so the queue stays unknown.
    if conf.task_routes:
        return None
    return _queue_name(conf.task_default_queue)


def describe_apply_async(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo:
    app = task.app
    queue = _queue_name(kwargs.get("queue")) or _queue_name(getattr(task, "queue", None))
    queue = queue or _default_queue(app)
    return TaskInfo(str(task.name), "celery", queue, bool(app.conf.task_always_eager))


def describe_send_task(app: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo:
    name = args[0] if args else kwargs.get("name")
    queue = _queue_name(kwargs.get("queue")) or _default_queue(app)
    # send_task always sends a message, even with task_always_eager.
    return TaskInfo(str(name), "celery", queue, False)


class CeleryHook(Hook):
    """Celery task enqueues."""

    name = "celery"
    requires = ("celery",)

    def _install(self) -> None:
        self.patch(Task, "apply_async", task_wrapper("celery", describe_apply_async, outer=_sending))
        self.patch(celery.Celery, "send_task", task_wrapper("celery", describe_send_task, outer=_sending))
