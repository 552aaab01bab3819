"""django-q2 enqueues: ``django_q.tasks.async_task`` (``AsyncTask.run``, ``async_chain`` and
``async_iter`` call it through the module).

The hook replaces the module's function, so code that imported ``async_task`` before the app registry was
ready (before ``async_audit``'s ``ready()``) keeps the original and is not recorded; the usual
``from django_q.tasks import async_task`` at the top of a views module runs later and is. With ``sync``
(the argument, ``q_options`` or the ``Q_CLUSTER`` setting) the task runs inside the call: ``inline`` is
true and what the task does is recorded under it. ``queue`` is the cluster name.
"""

from __future__ import annotations

from typing import Any

import django_q

from async_audit.record.hooks._task import TaskInfo, dotted, function_task_wrapper
from async_audit.record.hooks.base import Hook

_ = django_q  # the library itself must import: its tasks module needs the app registry, see _install


def describe_async_task(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskInfo:
    from django_q.conf import Conf

    func = args[0] if args else kwargs.get("func")
    q_options = kwargs.get("q_options") or {}
    sync = q_options.get("sync", kwargs.get("sync"))
    if sync is None:
        sync = Conf.SYNC
    broker = q_options.get("broker", kwargs.get("broker"))
    cluster = getattr(broker, "list_key", None) or q_options.get("cluster", kwargs.get("cluster"))
    cluster = cluster or Conf.CLUSTER_NAME
    return TaskInfo(dotted(func), "django_q", None if cluster is None else str(cluster), bool(sync))


class DjangoQHook(Hook):
    """django-q2 ``async_task``."""

    name = "django_q"
    requires = ("django_q",)

    @classmethod
    def available(cls) -> bool:
        from django.apps import apps

        # django_q.tasks holds models: without the app installed it cannot even be imported.
        return super().available() and (not apps.apps_ready or apps.is_installed("django_q"))

    def _install(self) -> None:
        import django_q.tasks  # needs the app registry: install runs from AppConfig.ready()

        self.patch(django_q.tasks, "async_task", function_task_wrapper("django_q", describe_async_task))
