"""The four views measured: trivial, 10 queries, 3 outbound HTTP calls, one email."""

from __future__ import annotations

import os

import requests
from benchmarks.recorder.models import Item
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse

# One keep-alive session, as a site's API client would hold: the connection set-up stays out of the noise.
_session = requests.Session()


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def queries(request: HttpRequest) -> HttpResponse:
    total = 0
    for pk in range(1, 11):
        item = Item.objects.filter(pk=pk).first()
        total += item.price if item is not None else 0
    return HttpResponse(str(total))


def outbound(request: HttpRequest) -> HttpResponse:
    base = f"http://127.0.0.1:{os.environ['BENCH_HTTP_PORT']}"
    statuses = []
    for path in ("/v1/customers/42", "/v1/orders", "/hooks/notify"):
        response = _session.get(base + path, timeout=5)
        statuses.append(response.status_code)
    return HttpResponse(",".join(map(str, statuses)))


def email(request: HttpRequest) -> HttpResponse:
    sent = send_mail("Welcome", "Thanks for signing up.", "noreply@example.com", ["customer@example.com"])
    return HttpResponse(str(sent))
