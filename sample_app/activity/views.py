"""The front end's analytics beacon: feature usage goes to HubSpot as behavioural events.

Async, served by the ASGI workers: the beacon fires on every page and must not tie up a WSGI thread.
"""

from __future__ import annotations

import json
import logging

import httpx
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

EVENTS_PATH = "/events/v3/send"  # HubSpot custom behavioural events
KNOWN_EVENTS = {
    "invoice_viewed",
    "report_downloaded",
    "directory_searched",
    "plan_compared",
    "signup_started",
}


@method_decorator(csrf_exempt, name="dispatch")
class EventView(View):
    http_method_names = ["post"]

    async def post(self, request: HttpRequest) -> HttpResponse:
        try:
            payload = json.loads(request.body)
            event = payload["event"]
        except (ValueError, KeyError, TypeError):
            return JsonResponse({"error": "expected a JSON object with an 'event'"}, status=400)
        if event not in KNOWN_EVENTS:
            return JsonResponse({"error": f"unknown event {event!r}"}, status=400)
        body = {
            "eventName": f"pe_ledgerly_{event}",
            "objectId": str(payload.get("contact_id") or ""),
            "properties": {"path": str(payload.get("path", ""))[:200]},
        }
        headers = {"Authorization": f"Bearer {settings.HUBSPOT_ACCESS_TOKEN}"}
        async with httpx.AsyncClient(
            base_url=settings.HUBSPOT_API_BASE, headers=headers, timeout=5.0
        ) as client:
            try:
                response = await client.post(EVENTS_PATH, json=body)  # audit: activity-event-async
                response.raise_for_status()
            except httpx.HTTPError:
                logger.warning("HubSpot event %s failed", event, exc_info=True)
        return JsonResponse({"ok": True}, status=202)
