"""The silk test site: ORM queries (all silk records), silk_profile blocks, a worker killed mid-request."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from silk.profiling.profiler import silk_profile

from tests.site.models import Note


class WorkerKilled(BaseException):
    """What a worker killed at the timeout looks like from inside: nothing after it runs, no response."""


def notes(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        Note.objects.create(text=json.loads(request.body).get("text", ""))
    return JsonResponse({"count": Note.objects.count(), "first": list(Note.objects.values_list("id")[:3])})


def order(request: HttpRequest, pk: int) -> HttpResponse:
    # A parameter (an email address from the query string) goes into the SQL silk stores.
    email = request.GET.get("email", "")
    found = Note.objects.filter(text=email).exists()
    return JsonResponse({"pk": pk, "found": found}, status=200 if found else 404)


@silk_profile(name="render invoice")
def _render_invoice() -> int:
    return sum(len(n.text) for n in Note.objects.all())


def profiled(request: HttpRequest) -> HttpResponse:
    with silk_profile(name="load notes"):
        total = Note.objects.filter(text__startswith="a").count()
    size = _render_invoice()
    return JsonResponse({"total": total, "size": size})


def killed(request: HttpRequest) -> HttpResponse:
    Note.objects.count()
    raise WorkerKilled()
