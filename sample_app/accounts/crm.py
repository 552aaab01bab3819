"""HubSpot: contacts for every account, deals for every invoice."""

from __future__ import annotations

import logging

import requests
from django.conf import settings

from accounts.models import Organization

logger = logging.getLogger(__name__)


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.HUBSPOT_ACCESS_TOKEN}", "Content-Type": "application/json"}


def push_contact(*, email: str, first_name: str, last_name: str, organization: Organization) -> str | None:
    """Create the new owner as a HubSpot contact; returns the contact id (None when HubSpot said no)."""
    payload = {
        "properties": {
            "email": email,
            "firstname": first_name,
            "lastname": last_name,
            "company": organization.name,
            "city": organization.city,
            "industry": organization.industry,
            "lifecyclestage": "customer",
        }
    }
    url = f"{settings.HUBSPOT_API_BASE}/crm/v3/objects/contacts"
    response = requests.post(url, json=payload, headers=_headers(), timeout=5)  # audit: signup-crm-push
    if response.status_code == 409:
        logger.info("HubSpot already knows %s", organization.slug)
        return None
    response.raise_for_status()
    contact_id: str = response.json()["id"]
    return contact_id


def record_deal(*, name: str, amount_cents: int, currency: str, organization: Organization) -> None:
    """Mirror an issued invoice as a HubSpot deal, so account managers see revenue per customer."""
    payload = {
        "properties": {
            "dealname": name,
            "amount": f"{amount_cents / 100:.2f}",
            "deal_currency_code": currency.upper(),
            "dealstage": "closedwon",
            "pipeline": "default",
            "ledgerly_organization": organization.slug,
        }
    }
    url = f"{settings.HUBSPOT_API_BASE}/crm/v3/objects/deals"
    # TODO: add a timeout; a HubSpot outage once hung every invoice page until the worker was killed.
    response = requests.post(url, json=payload, headers=_headers())  # audit: invoice-crm-deal
    response.raise_for_status()
