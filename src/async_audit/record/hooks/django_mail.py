"""Email sent through Django's mail API, whatever the backend: SMTP, console, locmem, file, API backends.

Every path of the mail API ends in a backend instance's ``send_messages``: ``send_mail``, ``send_mass_mail``,
``EmailMessage.send``, ``mail_admins`` under ``EMAIL_BACKEND``/``get_connection()``, and Django 6.1's
``MAILERS``/``mailers[alias]`` alike. So the hook patches ``send_messages`` (and a backend's own ``open``
and ``close``, which hold the connection set-up when a site opens the connection itself) on each backend
class, once, at the class level, found three ways:

- every ``BaseEmailBackend`` subclass already defined when the hook is installed;
- every subclass defined later (a site's own backend is usually imported lazily, on first send), through
  ``BaseEmailBackend.__init_subclass__``;
- any class Django loads as a backend (``import_string`` in ``django.core.mail`` and its mailers handler),
  which also catches a backend that does not subclass ``BaseEmailBackend``.

Nothing wraps ``get_connection`` or a backend's ``__init__``: Django 6.1 decides whether to emit its
deprecation warnings by looking at the caller's frame, and a wrapper there would change what a site sees.
Recorded: ``backend`` (dotted class path), ``messages`` and ``recipients`` (counts only, never an address),
``error``. A send made inside another email call (an SMTP backend's smtplib session, a backend that wraps
another backend) is the same email and is not recorded twice.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar, Token
from typing import Any

import django.core.mail  # noqa: F401 - patched below, as django.core.mail.import_string
from django.core.mail.backends.base import BaseEmailBackend

from async_audit.record.guard import guarded
from async_audit.record.hooks.base import MARKER, Hook
from async_audit.record.trace import Call, begin_call, current_trace

try:  # Django >= 6.1: the mailers handler loads MAILERS backends through its own import_string.
    import django.core.mail.handler as _mail_handler
except ImportError:  # pragma: no cover - Django < 6.1
    _mail_handler = None  # type: ignore[assignment]

_names: dict[type, str] = {}

# The email call running in this context. A layer under it (smtplib) whose failure the backend swallows
# (``fail_silently``) reports it here, so that mail which never left does not look like a success.
current_email: ContextVar[Call | None] = ContextVar("async_audit_email", default=None)


def note_swallowed_error(exc: BaseException) -> None:
    """Record ``exc`` on the running email call unless the call already has an error."""
    call = current_email.get()
    if call is not None and call.error is None:
        call.set(error=type(exc).__name__)


def dotted_name(cls: type) -> str:
    """``module.QualName`` of a class, cached."""
    name = _names.get(cls)
    if name is None:
        name = _names[cls] = f"{cls.__module__}.{cls.__qualname__}"
    return name


def count_recipients(messages: Iterable[Any]) -> int:
    """Recipients (to, cc and bcc) over ``messages``; messages that cannot say count none."""
    total = 0
    for message in messages:
        recipients = getattr(message, "recipients", None)
        if callable(recipients):
            total += len(recipients())
    return total


class _Counting:
    """Wraps a one-shot iterable of messages so that the backend's own pass over it counts them."""

    __slots__ = ("_it", "messages", "recipients")

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._it = iter(iterable)
        self.messages = 0
        self.recipients = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        message = next(self._it)
        self.messages += 1
        with guarded():
            self.recipients += count_recipients((message,))
        return message


def _wrap_send_messages(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def send_messages(self: Any, *args: Any, **kwargs: Any) -> Any:
        if current_trace.get() is None:
            return original(self, *args, **kwargs)
        # Every email call has the same keys, even when describing the messages fails.
        fields: dict[str, Any] = {"backend": "", "messages": 0, "recipients": 0}
        counting: _Counting | None = None
        with guarded():
            fields["backend"] = dotted_name(type(self))
            messages = args[0] if args else kwargs.get("email_messages", kwargs.get("messages"))
            if messages is None:
                pass
            elif hasattr(messages, "__len__"):
                fields["messages"] = len(messages)
                fields["recipients"] = count_recipients(messages)
            else:
                # A generator can be read once only: count while the backend reads it.
                counting = _Counting(messages)
                if args:
                    args = (counting, *args[1:])
                elif "email_messages" in kwargs:
                    kwargs["email_messages"] = counting
                else:
                    kwargs["messages"] = counting
        call = begin_call("email", "django.mail", depth=2, **fields)
        if call is None:
            return original(self, *args, **kwargs)
        token = current_email.set(call)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            _finish(call, counting, exc)
            raise
        finally:
            _reset(token)
        _finish(call, counting, None)
        return result

    return send_messages


def _reset(token: Token[Call | None]) -> None:
    try:
        current_email.reset(token)
    except ValueError:  # finished in another context than it began in
        current_email.set(None)


def _finish(call: Any, counting: _Counting | None, exc: BaseException | None) -> None:
    fields: dict[str, Any] = {}
    if counting is not None:
        fields = {"messages": counting.messages, "recipients": counting.recipients}
    if exc is None:
        call.finish(**fields)
    else:
        call.fail(exc, **fields)


def _wrap_connection_method(original: Callable[..., Any]) -> Callable[..., Any]:
    # open() and close() called by the site itself (``with connection:``, ``connection.open()``) hold the
    # SMTP connect, TLS and login, or the QUIT; called from send_messages they are part of that call.
    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if current_trace.get() is None:
            return original(self, *args, **kwargs)
        backend = ""
        with guarded():
            backend = dotted_name(type(self))
        call = begin_call("email", "django.mail", depth=2, backend=backend, messages=0, recipients=0)
        if call is None:
            return original(self, *args, **kwargs)
        token = current_email.set(call)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            _reset(token)
        call.finish()
        return result

    return method


class DjangoMailHook(Hook):
    """Django's mail API, every backend, ``EMAIL_BACKEND`` and ``MAILERS`` alike."""

    name = "django.mail"
    requires = ("django.core.mail",)

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[type] = set()
        self._seen_lock = threading.Lock()
        self._set_init_subclass = False

    def patch_backend(self, cls: type) -> None:
        """Patch the methods that send for backend class ``cls`` (and the classes it inherits them from)."""
        if cls in self._seen:
            return
        with self._seen_lock:
            if cls not in self._seen:
                self._patch_backend(cls)
                self._seen.add(cls)

    def _patch_backend(self, cls: type) -> None:
        for attr, make_wrapper in (
            ("send_messages", _wrap_send_messages),
            ("open", _wrap_connection_method),
            ("close", _wrap_connection_method),
        ):
            for klass in cls.__mro__:
                if attr in klass.__dict__:
                    # BaseEmailBackend's own open/close do nothing and its send_messages only raises.
                    if klass is not BaseEmailBackend and klass is not object:
                        if callable(klass.__dict__[attr]):
                            self.patch(klass, attr, make_wrapper)
                    break

    def _install(self) -> None:
        # Django's own backends, imported here so that the first send does not pay for patching them.
        import django.core.mail.backends.console
        import django.core.mail.backends.dummy
        import django.core.mail.backends.filebased
        import django.core.mail.backends.locmem
        import django.core.mail.backends.smtp  # noqa: F401

        pending: list[type] = list(BaseEmailBackend.__subclasses__())
        while pending:
            cls = pending.pop()
            self.patch_backend(cls)
            pending.extend(cls.__subclasses__())

        hook = self
        if "__init_subclass__" not in BaseEmailBackend.__dict__:

            def __init_subclass__(cls: Any, /, **kwargs: Any) -> None:  # noqa: N807 - the hook's own name
                super(BaseEmailBackend, cls).__init_subclass__(**kwargs)  # type: ignore[misc]
                with guarded():
                    if hook.installed:
                        hook.patch_backend(cls)

            # Set after the class was made, so it must be a classmethod explicitly.
            setattr(BaseEmailBackend, "__init_subclass__", classmethod(__init_subclass__))  # noqa: B010
            self._set_init_subclass = True

        def make_import_string(original: Callable[[str], Any]) -> Callable[[str], Any]:
            @functools.wraps(original)
            def import_string(dotted_path: str) -> Any:
                obj = original(dotted_path)
                if isinstance(obj, type) and obj not in hook._seen:
                    with guarded():
                        if hook.installed:
                            hook.patch_backend(obj)
                return obj

            return import_string

        self.patch(django.core.mail, "import_string", make_import_string)
        if _mail_handler is not None and hasattr(_mail_handler, "import_string"):
            self.patch(_mail_handler, "import_string", make_import_string)

    def _uninstall(self) -> None:
        if self._set_init_subclass and "__init_subclass__" in BaseEmailBackend.__dict__:
            delattr(BaseEmailBackend, "__init_subclass__")
        self._set_init_subclass = False
        self._seen.clear()


def is_patched(cls: type) -> bool:
    """Whether ``cls.send_messages`` records (for tests and diagnostics)."""
    return getattr(getattr(cls, "send_messages", None), MARKER, None) is not None
