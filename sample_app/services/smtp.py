"""A real SMTP server (aiosmtpd) on an ephemeral loopback port that keeps what it receives."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, ClassVar

from aiosmtpd.controller import Controller

from .latency import NONE, Dice, Latency


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")


class _Handler:
    def __init__(self, service: SMTPService) -> None:
        self.service = service

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        delay, fails = self.service._dice.roll(self.service.latency)
        if delay:
            await asyncio.sleep(delay)
        if fails:
            return "451 4.3.0 Mail server temporarily rejected message"
        self.service._store(
            ReceivedMail(
                str(envelope.mail_from), tuple(str(r) for r in envelope.rcpt_tos), bytes(envelope.content)
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's controller, serving on a socket we bound ourselves so the port can be ephemeral."""

    def __init__(self, handler: _Handler, sock: socket.socket) -> None:
        self._sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], ready_timeout=10)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class SMTPService:
    """An SMTP server whose answers to DATA wait the drawn latency; a failing draw answers 451."""

    name: ClassVar[str] = "smtp"

    def __init__(self, latency: Latency = NONE, *, seed: int = 0) -> None:
        self.latency = latency
        self._dice = Dice(seed)
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._controller: _Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("smtp is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        controller = _Controller(_Handler(self), sock)
        try:
            controller.start()
        except BaseException:
            sock.close()
            raise
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
            controller._sock.close()

    def __enter__(self) -> SMTPService:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("smtp is not running")
        return int(self._controller.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    def to(self, address: str) -> list[ReceivedMail]:
        """Messages delivered to ``address``."""
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def _store(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)
