from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .models import Payment


def send_receipt(payment: Payment, *, to: str) -> None:
    context = {"payment": payment, "organization": payment.organization, "plan": payment.plan}
    message = EmailMultiAlternatives(
        subject=f"Your Ledgerly receipt for {payment.plan.name}",
        body=render_to_string("billing/email/receipt.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string("billing/email/receipt.html", context), "text/html")
    message.send()  # audit: checkout-receipt-email
