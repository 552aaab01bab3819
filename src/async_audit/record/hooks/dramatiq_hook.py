"""Dramatiq enqueues: ``Actor.send_with_options`` (``Actor.send`` goes through it).

Dramatiq has no broker that runs the work inside the request (the StubBroker only holds messages for a
test worker), so ``inline`` is always false. ``task`` is the actor function's dotted path; ``queue`` the
actor's queue. Messages sent by ``pipeline`` and ``group`` go to the broker without ``send_with_options``
and are not recorded.
"""

from __future__ import annotations

from typing import Any

from dramatiq.actor import Actor

from async_audit.record.hooks._task import TaskInfo, dotted, task_wrapper
from async_audit.record.hooks.base import Hook


def describe_send(actor: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo:
    fn = getattr(actor, "fn", None)
    name = dotted(fn) if fn is not None else str(actor.actor_name)
    queue = actor.queue_name
    return TaskInfo(name, "dramatiq", None if queue is None else str(queue), False)


class DramatiqHook(Hook):
    """Dramatiq actor sends."""

    name = "dramatiq"
    requires = ("dramatiq",)

    def _install(self) -> None:
        self.patch(Actor, "send_with_options", task_wrapper("dramatiq", describe_send))
