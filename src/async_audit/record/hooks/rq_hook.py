"""RQ enqueues: ``Queue.enqueue_job`` (``enqueue`` and ``enqueue_call`` end there, so do django-rq's
helpers), ``Queue.enqueue_many`` and ``Queue.schedule_job`` (``enqueue_at``, ``enqueue_in``).

A queue made with ``is_async=False`` runs the job inside the enqueue: ``inline`` is true and what the job
does is recorded under it. Creating the job (pickling its arguments) happens before ``enqueue_job`` and is
not part of the recorded time; the Redis round trips are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rq
from rq.queue import Queue

from async_audit.record.hooks._task import TaskInfo, dotted, task_wrapper
from async_audit.record.hooks.base import Hook

_ = rq  # the library itself must import: a broken install makes the hook unavailable


def _job_name(job: Any) -> str:
    name = job.func_name
    return "" if name is None else str(name)


def describe_enqueue_job(queue: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo:
    job = args[0] if args else kwargs["job"]
    return TaskInfo(_job_name(job), "rq", str(queue.name), not queue.is_async)


def describe_schedule_job(queue: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo:
    job = args[0] if args else kwargs["job"]
    return TaskInfo(_job_name(job), "rq", str(queue.name), False)


def describe_enqueue_many(queue: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo:
    datas = args[0] if args else kwargs.get("job_datas")
    name = ""
    # Only a sequence can be looked into without using up what the queue is about to read.
    if isinstance(datas, Sequence) and datas:
        name = dotted(datas[0].func)
    return TaskInfo(name, "rq", str(queue.name), not queue.is_async)


class RqHook(Hook):
    """RQ job enqueues."""

    name = "rq"
    requires = ("rq",)

    def _install(self) -> None:
        self.patch(Queue, "enqueue_job", task_wrapper("rq", describe_enqueue_job))
        self.patch(Queue, "enqueue_many", task_wrapper("rq", describe_enqueue_many))
        self.patch(Queue, "schedule_job", task_wrapper("rq", describe_schedule_job))
