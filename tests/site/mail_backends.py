"""Email backends written in the site's own code, loaded by Django only when mail is first sent."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend

# Where ApiEmailBackend posts: Django 4.2 has no per-backend options in settings, so tests set it here.
API: dict[str, str] = {}


class ApiEmailBackend(BaseEmailBackend):
    """Like django-anymail: one HTTP POST per message to a mail provider's API."""

    def __init__(self, *args: Any, url: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url = url or API["url"]

    def send_messages(self, email_messages: Any) -> int:
        sent = 0
        for message in email_messages:
            body = json.dumps({"to": message.recipients(), "subject": message.subject}).encode()
            headers = {"Content-Type": "application/json"}
            request = urllib.request.Request(self.url, data=body, headers=headers)
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
            sent += 1
        return sent


class DuckBackend:
    """A backend that does not subclass BaseEmailBackend: Django only needs ``send_messages``."""

    outbox: list[Any] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send_messages(self, email_messages: Any) -> int:
        messages = list(email_messages)
        DuckBackend.outbox.extend(messages)
        return len(messages)
