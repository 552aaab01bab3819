from __future__ import annotations

import zlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Organization
from accounts.tenancy import current_organization
from async_audit import track

from .forecast import CustomerHistory, forecast_csv
from .models import ReportExport

# New accounts have little history; forecast them against a typical small-business book.
BASELINE_CUSTOMERS = [
    CustomerHistory(monthly_cents=40_000 + 2_500 * i, pay_rate=0.93, churn_rate=0.03) for i in range(60)
]


def _customer_histories(organization: Organization) -> list[CustomerHistory]:
    rows = organization.customers.annotate(
        invoices_count=Count("invoices"),
        paid_count=Count("invoices", filter=Q(invoices__status="paid")),
        average_cents=Avg("invoices__amount_cents"),
    ).filter(invoices_count__gt=0)
    histories = [
        CustomerHistory(
            monthly_cents=int(row.average_cents or 0),
            pay_rate=max(row.paid_count / row.invoices_count, 0.8),
            churn_rate=0.02,
        )
        for row in rows
    ]
    return histories + BASELINE_CUSTOMERS


@login_required
def export_list(request: HttpRequest) -> HttpResponse:
    exports = current_organization(request).report_exports.defer("content")[:20]
    return render(request, "reports/export_list.html", {"exports": exports})


@login_required
@require_POST
def export_create(request: HttpRequest) -> HttpResponse:
    organization = current_organization(request)
    histories = _customer_histories(organization)
    today = timezone.localdate()
    with track("reports.revenue_forecast"):  # audit: reports-forecast-compute
        content = forecast_csv(
            histories,
            simulations=settings.FORECAST_SIMULATIONS,
            start=today,
            seed=zlib.crc32(f"{organization.pk}:{today}".encode()),
        )
    ReportExport.objects.create(
        organization=organization,
        kind=ReportExport.Kind.REVENUE_FORECAST,
        content=content,
        rows=content.count("\n") - 1,
    )
    messages.success(request, "Your revenue forecast is ready to download.")
    return redirect("reports:export-list")


@login_required
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    export = get_object_or_404(ReportExport, pk=pk, organization=current_organization(request))
    response = HttpResponse(export.content, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{export.kind}-{export.created_at:%Y%m%d}.csv"'
    return response
