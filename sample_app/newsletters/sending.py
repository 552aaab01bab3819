"""Sending a campaign to an organization's subscribers."""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from .models import Campaign

logger = logging.getLogger(__name__)


def send_campaign(campaign: Campaign, *, base_url: str) -> tuple[int, int]:
    """Email every active subscriber their own copy (each has a personal unsubscribe link).

    Returns (sent, failed).
    """
    sent = failed = 0
    subscribers = campaign.organization.subscribers.filter(is_active=True)
    for subscriber in subscribers:
        unsubscribe_url = f"{base_url}newsletters/unsubscribe/{subscriber.unsubscribe_token}/"
        context = {"campaign": campaign, "subscriber": subscriber, "unsubscribe_url": unsubscribe_url}
        message = EmailMultiAlternatives(
            subject=campaign.subject,
            body=render_to_string("newsletters/email/campaign.txt", context),
            from_email=settings.NEWSLETTER_FROM_EMAIL,
            to=[subscriber.email],
            headers={"List-Unsubscribe": f"<{unsubscribe_url}>"},
        )
        message.attach_alternative(render_to_string("newsletters/email/campaign.html", context), "text/html")
        try:
            message.send()  # audit: newsletter-batch-send
        except (smtplib.SMTPException, OSError):
            logger.warning("campaign %s to subscriber %s failed", campaign.pk, subscriber.pk, exc_info=True)
            failed += 1
        else:
            sent += 1
    campaign.sent_at = timezone.now()
    campaign.recipients = sent
    campaign.failures = failed
    campaign.save(update_fields=["sent_at", "recipients", "failures"])
    return sent, failed
