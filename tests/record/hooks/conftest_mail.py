"""Helpers for the email and task hook tests: a real SMTP server on 127.0.0.1, and mail settings that work
the same on Django 4.2 (``EMAIL_BACKEND``) and Django >= 6.1 (``MAILERS``).

A test module makes its own fixture from :func:`running_smtp_server` (a fixture imported by name would be
shadowed by the test's parameter of the same name).
"""

from __future__ import annotations

import json
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core import mail
from django.test import override_settings

HAS_MAILERS = hasattr(mail, "mailers")
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"
ADDRESSES = ("@example.com", "alice", "bob", "hunter2")


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def use_mailer(backend: str, *, api: str = "mailers", **options: Any) -> Iterator[None]:
    """The default mailer is ``backend`` with ``options`` (host, port, timeout, file_path).

    ``api="mailers"`` uses Django 6.1's ``MAILERS`` where it exists and ``EMAIL_BACKEND`` before;
    ``api="email_backend"`` uses the deprecated settings on every version.
    """
    if HAS_MAILERS and api == "mailers":
        with override_settings(MAILERS={"default": {"BACKEND": backend, "OPTIONS": options}}):
            yield
        return
    values: dict[str, Any] = {"EMAIL_BACKEND": backend}
    for key, value in options.items():
        values["EMAIL_FILE_PATH" if key == "file_path" else f"EMAIL_{key.upper()}"] = value
    with warnings.catch_warnings():
        # Django 6.1 deprecates these settings themselves; the site would see this warning without us.
        warnings.filterwarnings("ignore", message=r"The EMAIL_\w+ setting is deprecated", category=Warning)
        with override_settings(**values):
            yield


def admins_setting() -> list[Any]:
    """ADMINS: plain addresses on Django >= 6.0, (name, address) pairs before."""
    import django

    addresses = ["ops@example.com", "oncall@example.com"]
    if django.VERSION >= (6, 0):
        return addresses
    return [(a.split("@")[0], a) for a in addresses]


def assert_no_address(record: dict[str, Any]) -> None:
    text = json.dumps(record)
    for needle in ADDRESSES:
        assert needle not in text, needle


@dataclass
class SmtpServer:
    """A running aiosmtpd server: its port and every message it accepted."""

    port: int
    messages: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self.server.lock:
            self.server.messages.append(envelope)
        return "250 Message accepted for delivery"


@contextmanager
def running_smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 and a free port, for the length of the block."""
    from aiosmtpd.controller import Controller

    server = SmtpServer(port=free_port())
    controller = Controller(_Handler(server), hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
