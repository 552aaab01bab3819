"""smtplib used directly: ``SMTP.sendmail`` and ``send_message``, and the session set-up around them.

``connect`` (the TCP connect and the server's greeting; ``SMTP(host)`` calls it), ``starttls``, ``login``
and ``quit`` (or the end of a ``with`` block) are recorded too, each as an ``email`` call with no
messages, because on a slow or distant server they take longer than the send. Recorded as kind
``email``, lib ``smtplib``, ``backend`` the SMTP class (``smtplib.SMTP``, ``smtplib.SMTP_SSL``,
``smtplib.LMTP``). Inside another email call (Django's SMTP backend) smtplib is that call's plumbing and
records nothing of its own.
"""

from __future__ import annotations

import functools
import smtplib
from collections.abc import Callable
from email.utils import getaddresses
from typing import Any

from async_audit.record.guard import guarded
from async_audit.record.hooks.base import Hook
from async_audit.record.hooks.django_mail import dotted_name, note_swallowed_error
from async_audit.record.trace import begin_call, current_trace


def _count_addresses(to_addrs: Any) -> int:
    if to_addrs is None:
        return 0
    if isinstance(to_addrs, str):
        return 1
    return len(to_addrs)


def _sendmail_fields(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    to_addrs = args[1] if len(args) > 1 else kwargs.get("to_addrs")
    return {"backend": dotted_name(type(self)), "messages": 1, "recipients": _count_addresses(to_addrs)}


def _send_message_fields(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    to_addrs = args[2] if len(args) > 2 else kwargs.get("to_addrs")
    if to_addrs is None:
        msg = args[0] if args else kwargs.get("msg")
        # Like send_message itself: the Resent-* block when there is one, else To, Cc and Bcc.
        resent = msg.get_all("Resent-Date") if msg is not None else None
        prefix = "Resent-" if resent else ""
        headers: list[str] = []
        if msg is not None:
            for field in ("To", "Cc", "Bcc"):
                headers.extend(str(v) for v in msg.get_all(prefix + field, []))
        recipients = sum(1 for _, address in getaddresses(headers) if address)
    else:
        recipients = _count_addresses(to_addrs)
    return {"backend": dotted_name(type(self)), "messages": 1, "recipients": recipients}


def _session_fields(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"backend": dotted_name(type(self)), "messages": 0, "recipients": 0}


Fields = Callable[[Any, tuple[Any, ...], dict[str, Any]], dict[str, Any]]


def _wrapper(fields: Fields, *, sends: bool = True) -> Callable[[Any], Any]:
    """``sends``: a failure here means the mail did not go (not so for QUIT, which Django forgives)."""

    def make_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            if current_trace.get() is None:
                return original(self, *args, **kwargs)
            described: dict[str, Any] = {"backend": "", "messages": 0, "recipients": 0}
            with guarded():
                described = fields(self, args, kwargs)
            call = begin_call("email", "smtplib", depth=2, **described)
            if call is None:
                if not sends:
                    return original(self, *args, **kwargs)
                # Inside Django's SMTP backend: with fail_silently it swallows this error, so its email
                # call is told here.
                try:
                    return original(self, *args, **kwargs)
                except Exception as exc:
                    note_swallowed_error(exc)
                    raise
            try:
                result = original(self, *args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            call.finish()
            return result

        return method

    return make_wrapper


class SmtplibHook(Hook):
    """The standard library's SMTP client, used without Django's mail API."""

    name = "smtplib"
    requires = ("smtplib",)

    def _install(self) -> None:
        # SMTP_SSL and LMTP inherit these from SMTP; SMTP_SSL's connect goes through SMTP.connect too.
        self.patch(smtplib.SMTP, "sendmail", _wrapper(_sendmail_fields))
        self.patch(smtplib.SMTP, "send_message", _wrapper(_send_message_fields))
        # ``with SMTP(...)`` ends in __exit__, which sends QUIT itself rather than through quit().
        for attr in ("connect", "starttls", "login"):
            self.patch(smtplib.SMTP, attr, _wrapper(_session_fields))
        for attr in ("quit", "__exit__"):
            self.patch(smtplib.SMTP, attr, _wrapper(_session_fields, sends=False))
