"""Tell the sales channel about every new invoice: the team likes watching revenue come in."""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Invoice

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Invoice, dispatch_uid="billing.notify_sales_channel")
def notify_sales_channel(sender: type[Invoice], instance: Invoice, created: bool, **kwargs: Any) -> None:
    if not created or not settings.SLACK_SALES_WEBHOOK_URL:
        return
    text = (
        f":moneybag: *{instance.organization.name}* issued {instance.number} to {instance.customer.name}: "
        f"{instance.amount:,.2f} {instance.currency.upper()}"
    )
    webhook_url = settings.SLACK_SALES_WEBHOOK_URL
    try:
        requests.post(webhook_url, json={"text": text}, timeout=10)  # audit: invoice-slack-signal
    except requests.RequestException:
        logger.warning("Slack notification for invoice %s failed", instance.pk, exc_info=True)
