import subprocess
import time

import requests as rq
from django.conf import settings
from django.core import mail
from django.core import mail as dj_mail
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views import View
from django.views.generic import CreateView

from .forms import ContactForm, ProfileForm
from .models import Order, Profile
from .notify import Notifier, deep_one
from .search import reindex_all
from .tasks import send_welcome


def signup(request):
    if request.method == "POST":
        dj_mail.send_mail("Welcome", "Hi", "shop@example.com", ["new@example.com"])  # scan: defer
        rq.post(settings.CRM_URL, json={"email": "new@example.com"})  # scan: defer no_timeout
        send_welcome.delay(1)  # scan: defer
        transaction.on_commit(
            lambda: mail.send_mail("Audit", "x", "a@example.com", ["b@example.com"])  # scan: defer
        )
        Notifier().ping("signup")
        deep_one(1)
        return redirect("/")
    return render(request, "signup.html")


class CheckoutView(View):
    def post(self, request):
        with transaction.atomic():
            order = Order.objects.create(total=10)
        subprocess.run(["wkhtmltopdf", "invoice.html", f"{order.pk}.pdf"], check=True)  # scan: defer
        return redirect("/")


def contact(request):
    form = ContactForm(request.POST)
    if form.is_valid():
        form.save()
        time.sleep(1)  # scan: defer
    return redirect("/")


def rates(request):
    table = rq.get("https://api.example.com/rates", timeout=3).json()  # scan: keep_sync
    return render(request, "rates.html", {"rates": table})


def legacy(request, slug):
    for order in Order.objects.all():
        order.delete()
    return HttpResponse("gone")


def reindex(request):
    reindex_all(list(Profile.objects.all()))
    return HttpResponse("ok")


class ProfileCreate(CreateView):
    model = Profile
    form_class = ProfileForm
    success_url = "/"
