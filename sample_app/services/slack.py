"""A Slack-like incoming webhook: ``POST /services/<team>/<channel>/<secret>`` with ``{"text": ...}``."""

from __future__ import annotations

from typing import Any, ClassVar

from .http import HTTPService, Request, Response
from .latency import NONE, Latency


class SlackService(HTTPService):
    """Answers ``ok`` in plain text, as Slack does, and keeps the messages."""

    name = "slack"
    routes: ClassVar[list[tuple[str, str, str]]] = [
        ("POST", r"/services/(?P<team>\w+)/(?P<channel>\w+)/(?P<secret>\w+)", "post_message"),
    ]
    webhook_path = "/services/T04LDGRLY2/B07SALES9Q/hQ3vX8kLmN2pR5tW9yZa1cE4"

    def __init__(self, latency: Latency = NONE, *, seed: int = 0) -> None:
        super().__init__(latency, seed=seed)
        self.messages: list[dict[str, Any]] = []

    @property
    def webhook_url(self) -> str:
        return self.url + self.webhook_path

    def failure(self, request: Request) -> Response:
        return Response(500, "internal_error", content_type="text/plain")

    def post_message(self, request: Request) -> Response:
        if request.path != self.webhook_path:
            return Response(404, "no_service", content_type="text/plain")
        try:
            payload = request.json()
        except ValueError:
            return Response(400, "invalid_payload", content_type="text/plain")
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return Response(400, "no_text", content_type="text/plain")
        with self._lock:
            self.messages.append(payload)
        return Response(200, "ok", content_type="text/plain")
