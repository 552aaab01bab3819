"""Pushes new customers to the CRM (a HubSpot-like JSON API)."""

from __future__ import annotations

import json
import urllib.request

from django.conf import settings


def push_contact(email: str, team: str) -> str | None:
    if not settings.CRM_URL:
        return None
    body = json.dumps({"email": email, "company": team}).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(settings.CRM_URL, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        contact_id: str = json.load(response)["id"]
    return contact_id
