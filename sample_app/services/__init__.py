"""Local stand-ins for the third-party services the Ledgerly site talks to, all on 127.0.0.1.

A real SMTP server (aiosmtpd) and HTTP services answering the real client libraries (``requests``, the
``stripe`` SDK, the official ``elasticsearch`` client, ``httpx``) with configurable latency.
"""

from __future__ import annotations

from .crm import CRMService
from .latency import Latency
from .payments import StripeService
from .search import ElasticsearchService
from .slack import SlackService
from .smtp import ReceivedMail, SMTPService
from .stack import FAST, REALISTIC, SERVICE_NAMES, ServiceStack

__all__ = [
    "FAST",
    "REALISTIC",
    "SERVICE_NAMES",
    "CRMService",
    "ElasticsearchService",
    "Latency",
    "ReceivedMail",
    "SMTPService",
    "ServiceStack",
    "SlackService",
    "StripeService",
]
