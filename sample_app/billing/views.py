from __future__ import annotations

import datetime
import logging
import smtplib

import requests
import stripe
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import crm
from accounts.tenancy import current_organization

from .emails import send_receipt
from .forms import CheckoutForm, InvoiceForm
from .models import Invoice, Payment, Subscription
from .payments import charge_for_plan
from .tasks import send_payment_reminder

logger = logging.getLogger(__name__)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    organization = current_organization(request)
    subscription = Subscription.objects.filter(organization=organization).select_related("plan").first()
    return render(
        request,
        "billing/overview.html",
        {
            "subscription": subscription,
            "payments": organization.payments.select_related("plan")[:10],
            "invoices": organization.invoices.select_related("customer")[:10],
        },
    )


@login_required
def checkout(request: HttpRequest) -> HttpResponse:
    organization = current_organization(request)
    form = CheckoutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        plan = form.cleaned_data["plan"]
        try:
            # Revenue first: nobody gets the plan before the money is confirmed.
            intent = charge_for_plan(
                organization=organization,
                plan=plan,
                payment_method=form.cleaned_data["payment_method"],
                email=request.user.email,  # type: ignore[union-attr]
            )
        except stripe.CardError as error:
            form.add_error(None, error.user_message or "Your card was declined.")
        except stripe.StripeError:
            logger.exception("Stripe charge for organization %s failed", organization.pk)
            form.add_error(None, "We could not reach our payment provider. You have not been charged.")
        else:
            with transaction.atomic():
                payment = Payment.objects.create(
                    organization=organization,
                    plan=plan,
                    amount_cents=intent.amount,
                    currency=intent.currency,
                    stripe_payment_intent=intent.id,
                )
                Subscription.objects.update_or_create(
                    organization=organization,
                    defaults={
                        "plan": plan,
                        "current_period_end": timezone.now() + datetime.timedelta(days=30),
                    },
                )
                try:
                    send_receipt(payment, to=request.user.email)  # type: ignore[union-attr]
                except (smtplib.SMTPException, OSError):
                    logger.warning("receipt for payment %s failed", payment.pk, exc_info=True)
            messages.success(request, f"You're on {plan.name}. Thanks for your business!")
            return redirect("billing:overview")
    return render(request, "billing/checkout.html", {"form": form})


@login_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    invoices = current_organization(request).invoices.select_related("customer")
    return render(request, "billing/invoice_list.html", {"invoices": invoices[:50]})


@login_required
def invoice_create(request: HttpRequest) -> HttpResponse:
    organization = current_organization(request)
    form = InvoiceForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        invoice = form.save()
        try:
            crm.record_deal(
                name=f"{invoice.number} {invoice.customer.name}",
                amount_cents=invoice.amount_cents,
                currency=invoice.currency,
                organization=organization,
            )
        except requests.RequestException:
            logger.warning("HubSpot deal for invoice %s failed", invoice.pk, exc_info=True)
        messages.success(request, f"Invoice {invoice.number} is ready to send.")
        return redirect(invoice)
    return render(request, "billing/invoice_form.html", {"form": form})


@login_required
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(
        Invoice.objects.select_related("customer"), pk=pk, organization=current_organization(request)
    )
    return render(request, "billing/invoice_detail.html", {"invoice": invoice})


@login_required
@require_POST
def invoice_remind(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice, pk=pk, organization=current_organization(request))
    if invoice.status != Invoice.Status.OPEN:
        messages.info(
            request, f"{invoice.number} is {invoice.get_status_display().lower()}; no reminder sent."
        )
        return redirect(invoice)
    send_payment_reminder.enqueue(invoice.pk)  # audit: invoice-reminder-task
    invoice.reminded_at = timezone.now()
    invoice.save(update_fields=["reminded_at"])
    messages.success(request, f"We'll remind {invoice.customer.name} about {invoice.number}.")
    return redirect(invoice)
