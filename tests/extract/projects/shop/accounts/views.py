from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404

from . import crm
from .models import Team

logger = logging.getLogger(__name__)


def signup(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        user = User.objects.create_user(
            username=request.POST["username"],
            email=request.POST["email"],
            first_name=request.POST.get("first_name", ""),
        )
        team = Team.objects.create(name=request.POST["team"], owner=user)
        context = {"name": user.first_name or user.username, "team": team.name}
        send_mail(  # the welcome email
            f"Welcome to {team.name}",
            "Hello {name}, your team {team} is ready.".format(**context),
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
    crm.push_contact(user.email, team=team.name)  # the CRM push
    return HttpResponseRedirect("/welcome/")


def invite(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=team_id)
    for member in team.members.all():
        send_mail(f"Join {team.name}", f"{request.user.username} invites you.", None, [member.email])
    return JsonResponse({"invited": team.members.count()})


def sync_contact(request: HttpRequest) -> HttpResponse:
    contact_id = crm.push_contact(request.user.email, team="")  # the CRM lookup
    return JsonResponse({"contact": contact_id})


def resend_welcome(request: HttpRequest) -> HttpResponse:
    user = request.user
    try:
        send_mail("Welcome back", "Your account is ready.", None, [user.email])  # the resent email
    except (smtplib.SMTPException, OSError):
        logger.warning("welcome email to user %s failed", user.pk, exc_info=True)
    return HttpResponse(status=204)
