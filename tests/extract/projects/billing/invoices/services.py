"""Slow helpers the views call: a PDF render, a webhook, a search index update."""

from __future__ import annotations

from typing import Any

from invoices.models import Customer, Invoice


def render_pdf(invoice: Invoice, *, locale: str) -> bytes:
    return f"{invoice.pk}:{locale}".encode()


def post_webhook(customer: Customer, event: str, timeout: float = 10.0) -> dict[str, Any]:
    return {"customer": customer.pk, "event": event, "timeout": timeout}


def send_receipt(invoice: Invoice) -> None:
    render_pdf(invoice, locale="en")  # the receipt render
