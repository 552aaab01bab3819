"""Background work for billing."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

try:
    from django.tasks import task  # Django >= 6.0
except ImportError:  # Django 4.2-5.2: the django-tasks backport has the same API
    from django_tasks import task  # type: ignore[no-redef]

from .models import Invoice


@task()
def send_payment_reminder(invoice_id: int) -> None:
    invoice = Invoice.objects.select_related("customer", "organization").get(pk=invoice_id)
    context = {"invoice": invoice, "organization": invoice.organization, "customer": invoice.customer}
    send_mail(  # audit: invoice-reminder-email
        subject=f"Reminder: invoice {invoice.number} from {invoice.organization.name}",
        message=render_to_string("billing/email/reminder.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invoice.customer.email],
    )
