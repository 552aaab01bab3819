"""Data-flow cases: each line marked ``# flow: yes|no|unknown`` is checked by tests/scan/test_dataflow.py."""

import logging

import requests
from django.core import mail
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.generic import FormView

logger = logging.getLogger(__name__)


def bare(request):
    requests.post("https://hooks.example.com/x", json={"a": 1}, timeout=5)  # flow: no
    return HttpResponse("ok")


def assigned_unused(request):
    sent = mail.send_mail("s", "b", "f@example.com", ["t@example.com"])  # noqa: F841  # flow: no
    return redirect("/")


def only_logged(request):
    resp = requests.post("https://hooks.example.com/x", timeout=5)  # flow: no
    logger.info("hook said %s", resp.status_code)
    return HttpResponse("ok")


def rendered(request):
    rates = requests.get("https://api.example.com/rates", timeout=5).json()  # flow: yes
    return render(request, "rates.html", {"rates": rates})


def returned_directly(request):
    return JsonResponse(requests.get("https://api.example.com/me", timeout=5).json())  # flow: yes


def through_fstring(request):
    r = requests.get("https://api.example.com/me", timeout=5)  # flow: yes
    text = f"hello {r.json()['name']}"
    return HttpResponse(text)


def through_container(request):
    context = {}
    items = []
    for sku in ["a", "b"]:
        items.append(requests.get("https://api.example.com/p/" + sku, timeout=5))  # flow: yes
    context["items"] = items
    return render(request, "p.html", context)


def context_update(request):
    context = {"title": "x"}
    context.update(profile=requests.get("https://api.example.com/p", timeout=5).json())  # flow: yes
    return render(request, "p.html", context)


def decides(request):
    check = requests.post("https://captcha.example.com/verify", timeout=5)  # flow: yes
    if not check.ok:
        return HttpResponse("bad captcha", status=400)
    return redirect("/")


def in_lambda(request):
    transaction.on_commit(lambda: mail.send_mail("s", "b", "f@e.com", ["t@e.com"]))  # flow: no
    return redirect("/")


def nested_deferred(request):
    def notify():
        return requests.post("https://hooks.example.com/x", timeout=5)  # flow: no

    transaction.on_commit(notify)
    return redirect("/")


def fetch_profile(user_id):
    return requests.get(f"https://api.example.com/u/{user_id}", timeout=5).json()  # flow: yes


def uses_helper(request):
    return render(request, "u.html", {"profile": fetch_profile(1)})


def push_contact(user_id):
    return requests.post("https://crm.example.com/c", json={"id": user_id}, timeout=5)  # flow: no


def discards_helper(request):
    push_contact(1)
    return redirect("/")


def messages_shown(request):
    from django.contrib import messages

    n = mail.send_mail("s", "b", "f@e.com", ["t@e.com"])  # flow: yes
    messages.success(request, f"sent {n} messages")
    return redirect("/")


def loop_accumulates(request):
    total = 0
    for sku in ["a", "b"]:
        total += requests.get("https://api.example.com/p/" + sku, timeout=5).json()["n"]  # flow: yes
    return HttpResponse(str(total))


class Signup(FormView):
    def form_valid(self, form):
        self.profile = requests.get("https://api.example.com/p", timeout=5)  # flow: yes
        return render(self.request, "s.html", {"p": self.other()})

    def other(self):
        return self.profile.json()
