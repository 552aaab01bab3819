"""All the stand-in services together, started and stopped as one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol

from .crm import CRMService
from .latency import NONE, Latency
from .payments import StripeService
from .search import ElasticsearchService
from .slack import SlackService
from .smtp import SMTPService

# What the real providers feel like from a small EU/US deployment; the demo plays these by default.
REALISTIC: dict[str, Latency] = {
    "smtp": Latency(ms=180, jitter_ms=60, slow_rate=0.03, slow_ms=1200, fail_rate=0.01),
    "crm": Latency(ms=320, jitter_ms=110, slow_rate=0.04, slow_ms=1800, fail_rate=0.02),
    "stripe": Latency(ms=420, jitter_ms=120, slow_rate=0.02, slow_ms=1500, fail_rate=0.005),
    "elasticsearch": Latency(ms=60, jitter_ms=25, slow_rate=0.02, slow_ms=600, fail_rate=0.005),
    "slack": Latency(ms=260, jitter_ms=90, slow_rate=0.05, slow_ms=1500, fail_rate=0.01),
}

# A few milliseconds each, never failing: for tests that need the calls, not their cost.
FAST: dict[str, Latency] = {name: Latency(ms=2, jitter_ms=1) for name in REALISTIC}

SERVICE_NAMES = tuple(REALISTIC)


class Service(Protocol):
    name: ClassVar[str]
    latency: Latency

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def url(self) -> str: ...


class ServiceStack:
    """The SMTP server, CRM, payment provider, search engine and Slack webhook, each on its own port.

    ``latency`` maps service names (:data:`SERVICE_NAMES`) to a :class:`Latency`; names left out answer
    without delay. Each service draws from its own random source seeded from ``seed``, so a run replays.
    """

    def __init__(self, latency: Mapping[str, Latency] | None = None, *, seed: int = 0) -> None:
        latency = dict(latency or {})
        unknown = set(latency) - set(SERVICE_NAMES)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}; known: {', '.join(SERVICE_NAMES)}")
        self.smtp = SMTPService(latency.get("smtp", NONE), seed=seed)
        self.crm = CRMService(latency.get("crm", NONE), seed=seed + 1)
        self.stripe = StripeService(latency.get("stripe", NONE), seed=seed + 2)
        self.elasticsearch = ElasticsearchService(latency.get("elasticsearch", NONE), seed=seed + 3)
        self.slack = SlackService(latency.get("slack", NONE), seed=seed + 4)
        self._started: list[Service] = []

    @property
    def services(self) -> dict[str, Service]:
        return {
            "smtp": self.smtp,
            "crm": self.crm,
            "stripe": self.stripe,
            "elasticsearch": self.elasticsearch,
            "slack": self.slack,
        }

    def set_latency(self, name: str, latency: Latency) -> None:
        """Change one service's latency; it applies from its next call, also while running."""
        try:
            self.services[name].latency = latency
        except KeyError:
            raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICE_NAMES)}") from None

    def start(self) -> None:
        try:
            for service in self.services.values():
                service.start()
                self._started.append(service)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()

    def __enter__(self) -> ServiceStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def urls(self) -> dict[str, str]:
        return {name: service.url for name, service in self.services.items()}

    def environ(self) -> dict[str, str]:
        """The environment the Ledgerly site reads its service addresses and keys from."""
        return {
            "EMAIL_HOST": self.smtp.host,
            "EMAIL_PORT": str(self.smtp.port),
            "HUBSPOT_API_BASE": self.crm.url,
            "HUBSPOT_ACCESS_TOKEN": self.crm.token,
            "STRIPE_API_BASE": self.stripe.url,
            "STRIPE_SECRET_KEY": self.stripe.secret_key,
            "ELASTICSEARCH_URL": self.elasticsearch.url,
            "SLACK_SALES_WEBHOOK_URL": self.slack.webhook_url,
        }
