"""Views of the test site: each makes the kind of call a test checks."""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from async_audit import track
from tests.site.models import Note


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello")


def notes(request: HttpRequest, pk: int) -> JsonResponse:
    Note.objects.create(text=request.GET.get("text", "x"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM testsite_note WHERE id > %s", [pk])
        (count,) = cursor.fetchone()
    return JsonResponse({"count": count, "n": Note.objects.filter(pk__gte=pk).count()})


def slow_sql(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        # A recursive CTE that takes a measurable time on SQLite, with a secret literal in it.
        cursor.execute(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
            "SELECT COUNT(*) FROM c WHERE 'hunter2-secret' = %s OR x > 0",
            ["param-secret-value"],
        )
        cursor.fetchone()
    return HttpResponse("ok")


def tracked(request: HttpRequest) -> HttpResponse:
    with track("render report"):
        render_chart()
        time.sleep(0.002)
    return HttpResponse("ok")


@track
def render_chart() -> int:
    return sum(range(1000))


def atomic_block(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        with track("inside atomic"):
            pass
    with track("outside atomic"):
        pass
    return HttpResponse("ok")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the site's own error")


async def async_view(request: HttpRequest) -> HttpResponse:
    with track("async block"):
        await asyncio.sleep(0.001)
    await sync_to_async(_sync_part)()
    await asyncio.to_thread(_thread_part)
    return HttpResponse("async ok")


def _sync_part() -> None:
    with track("sync_to_async block"):
        pass


def _thread_part() -> None:
    with track("to_thread block"):
        pass
