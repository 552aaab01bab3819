from __future__ import annotations

import logging
import smtplib

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string

from directory.search import index_business

from . import crm
from .forms import SignupForm

logger = logging.getLogger(__name__)


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The account must exist before the user lands on the dashboard.
        with transaction.atomic():
            user, organization = form.save()  # audit: signup-account-row
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")

        context = {"user": user, "organization": organization, "site_url": request.build_absolute_uri("/")}
        try:
            send_mail(  # audit: signup-welcome-email
                subject=f"Welcome to Ledgerly, {organization.name}!",
                message=render_to_string("accounts/email/welcome.txt", context),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[form.cleaned_data["email"]],
                html_message=render_to_string("accounts/email/welcome.html", context),
            )
        except (smtplib.SMTPException, OSError):
            logger.warning("welcome email to organization %s failed", organization.pk, exc_info=True)

        try:
            contact_id = crm.push_contact(
                email=form.cleaned_data["email"],
                first_name=user.first_name,
                last_name=user.last_name,
                organization=organization,
            )
        except requests.RequestException:
            logger.warning("HubSpot contact for organization %s failed", organization.pk, exc_info=True)
        else:
            if contact_id:
                organization.crm_contact_id = contact_id
                organization.save(update_fields=["crm_contact_id"])

        if organization.listed_in_directory:
            index_business(organization)

        messages.success(request, f"Welcome aboard, {user.first_name}! Your 14-day trial has started.")
        return redirect("dashboard")
    return render(request, "accounts/signup.html", {"form": form})
