"""A HubSpot-like CRM: contacts, deals and custom behavioural events (the v3 JSON API's shapes)."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timezone
from typing import Any, ClassVar

from .http import HTTPService, Request, Response
from .latency import NONE, Latency


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str, category: str) -> Response:
    return Response(
        status,
        {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category},
    )


class CRMService(HTTPService):
    """Stores contacts, deals and events; refuses requests without the bearer token it was given."""

    name = "crm"
    routes: ClassVar[list[tuple[str, str, str]]] = [
        ("POST", r"/crm/v3/objects/contacts", "create_contact"),
        ("GET", r"/crm/v3/objects/contacts/(?P<id>\d+)", "get_contact"),
        ("PATCH", r"/crm/v3/objects/contacts/(?P<id>\d+)", "update_contact"),
        ("POST", r"/crm/v3/objects/deals", "create_deal"),
        ("POST", r"/events/v3/send", "send_event"),
    ]

    def __init__(
        self, latency: Latency = NONE, *, seed: int = 0, token: str = "pat-na1-ledgerly-local"
    ) -> None:
        super().__init__(latency, seed=seed)
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1001)

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
        return None

    def failure(self, request: Request) -> Response:
        return _error(503, "The service is temporarily unavailable.", "SERVICE_UNAVAILABLE")

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self._lock:
            for contact in self.contacts.values():
                if contact["properties"].get("email", "").lower() == email.lower():
                    return contact
        return None

    def _object(self, properties: dict[str, Any]) -> dict[str, Any]:
        object_id = str(next(self._ids))
        stamp = _now()
        return {
            "id": object_id,
            "properties": {**properties, "hs_object_id": object_id, "createdate": stamp},
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }

    def create_contact(self, request: Request) -> Response:
        properties = (request.json() or {}).get("properties") or {}
        email = properties.get("email")
        if not email:
            return _error(400, "Property values were not valid: email is required", "VALIDATION_ERROR")
        existing = self.contact_by_email(email)
        if existing is not None:
            return _error(409, f"Contact already exists. Existing ID: {existing['id']}", "CONFLICT")
        contact = self._object(properties)
        with self._lock:
            self.contacts[contact["id"]] = contact
        return Response(201, contact)

    def get_contact(self, request: Request) -> Response:
        with self._lock:
            contact = self.contacts.get(request.params["id"])
        if contact is None:
            return _error(404, "Object not found.", "OBJECT_NOT_FOUND")
        return Response(200, contact)

    def update_contact(self, request: Request) -> Response:
        properties = (request.json() or {}).get("properties") or {}
        with self._lock:
            contact = self.contacts.get(request.params["id"])
            if contact is not None:
                contact["properties"].update(properties)
                contact["updatedAt"] = _now()
        if contact is None:
            return _error(404, "Object not found.", "OBJECT_NOT_FOUND")
        return Response(200, contact)

    def create_deal(self, request: Request) -> Response:
        properties = (request.json() or {}).get("properties") or {}
        if not properties.get("dealname"):
            return _error(400, "Property values were not valid: dealname is required", "VALIDATION_ERROR")
        deal = self._object(properties)
        with self._lock:
            self.deals[deal["id"]] = deal
        return Response(201, deal)

    def send_event(self, request: Request) -> Response:
        event = request.json() or {}
        if not event.get("eventName"):
            return _error(400, "eventName is required", "VALIDATION_ERROR")
        with self._lock:
            self.events.append(event)
        return Response(204)
