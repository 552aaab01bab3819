from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from accounts.tenancy import current_organization
from billing.models import Invoice, Plan


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "home.html", {"plans": Plan.objects.filter(is_public=True)})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    organization = current_organization(request)
    totals = organization.invoices.aggregate(
        open_count=Count("id", filter=Q(status=Invoice.Status.OPEN)),
        open_cents=Sum("amount_cents", filter=Q(status=Invoice.Status.OPEN)),
        paid_cents=Sum("amount_cents", filter=Q(status=Invoice.Status.PAID)),
    )
    return render(
        request,
        "dashboard.html",
        {
            "organization": organization,
            "totals": totals,
            "recent_invoices": organization.invoices.select_related("customer")[:5],
            "subscriber_count": organization.subscribers.filter(is_active=True).count(),
        },
    )


def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
