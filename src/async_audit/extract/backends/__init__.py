"""One stub generator per task backend; importing this package registers them all."""

from __future__ import annotations

from async_audit.extract.backends.celery import CeleryGenerator
from async_audit.extract.backends.django_q import DjangoQGenerator
from async_audit.extract.backends.django_tasks import DjangoTasksGenerator
from async_audit.extract.backends.dramatiq import DramatiqGenerator
from async_audit.extract.backends.huey import HueyGenerator
from async_audit.extract.backends.rq import RQGenerator

__all__ = [
    "CeleryGenerator",
    "DjangoQGenerator",
    "DjangoTasksGenerator",
    "DramatiqGenerator",
    "HueyGenerator",
    "RQGenerator",
]
