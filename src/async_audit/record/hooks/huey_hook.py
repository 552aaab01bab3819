"""Huey enqueues: ``Huey.enqueue`` (calling a task, ``task.s(...)`` and ``schedule`` end there).

In ``immediate`` mode Huey runs a task inside ``enqueue`` unless it is scheduled for later: ``inline`` is
true and what the task does is recorded under the enqueue. ``queue`` is the Huey instance's name. A group
or chord is not an enqueue of its own: its members are recorded one by one.
"""

from __future__ import annotations

from typing import Any

from huey.api import Huey, chord, group

from async_audit.record.hooks._task import TaskInfo, dotted, task_wrapper
from async_audit.record.hooks.base import Hook


def describe_enqueue(huey: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo | None:
    task = args[0] if args else kwargs.get("task")
    if task is None or isinstance(task, (group, chord)):
        return None
    inline = bool(huey.immediate) and getattr(task, "eta", None) is None
    name = huey.name
    return TaskInfo(dotted(type(task)), "huey", None if name is None else str(name), inline)


class HueyHook(Hook):
    """Huey task enqueues."""

    name = "huey"
    requires = ("huey",)

    def _install(self) -> None:
        self.patch(Huey, "enqueue", task_wrapper("huey", describe_enqueue))
