"""What the task-enqueue hooks share: one wrapper shape, sync and async, around a library's enqueue method.

A hook describes an enqueue with a function ``describe(self, args, kwargs) -> TaskInfo | None`` (None: not
an enqueue to record, e.g. a group that enqueues its members one by one). Enqueues nest: a backend that
runs the work inside the request (Celery eager, RQ ``is_async=False``, Django's ImmediateBackend, Huey
immediate, django-q2 ``sync``) runs it inside the enqueue call, so what the task does (an email, an HTTP
call, another enqueue) is recorded with the enqueue as its ``parent``. Each hook therefore patches one
entry point per path, never two layers of the same path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

from async_audit.record.guard import guarded
from async_audit.record.trace import Call, begin_call, current_trace


class TaskInfo(NamedTuple):
    """The kind-specific fields of a ``task`` call."""

    task: str
    backend: str
    queue: str | None
    inline: bool


Describe = Callable[[Any, tuple[Any, ...], dict[str, Any]], "TaskInfo | None"]


_dotted: dict[int, tuple[Any, str]] = {}


def dotted(obj: Any) -> str:
    """``module.qualname`` of a function or class, or ``str(obj)`` for a name given as a string."""
    if isinstance(obj, str):
        return obj
    # Task functions and classes live as long as the process: name each once (by id, checked by identity).
    entry = _dotted.get(id(obj))
    if entry is not None and entry[0] is obj:
        return entry[1]
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if module and name:
        text = f"{module}.{name}"
    else:
        text = type(obj).__qualname__ if name is None else str(name)
    if len(_dotted) < 10_000:  # bounded: a site that makes functions on the fly must not grow this forever
        _dotted[id(obj)] = (obj, text)
    return text


def _describe(
    lib: str, describe: Describe, self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> TaskInfo | None:
    with guarded():
        return describe(self, args, kwargs)
    # The description failed (reported by the guard): record the enqueue anyway, with what is certain.
    return TaskInfo("", lib, None, False)


def _begin(lib: str, info: TaskInfo) -> Call | None:
    # depth 3: the stack walk starts at the hook wrapper's caller.
    return begin_call(
        "task",
        lib,
        nest_same_kind=True,
        depth=3,
        task=info.task,
        backend=info.backend,
        queue=info.queue,
        inline=info.inline,
    )


def task_wrapper(
    lib: str, describe: Describe, *, outer: ContextVar[bool] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``make_wrapper`` for :meth:`Hook.patch` around a synchronous enqueue method.

    ``outer``: for a library whose enqueue entry point calls another patched entry point (Celery's
    ``apply_async`` calls ``app.send_task``), a flag set while an enqueue that does not run its work here
    is in progress; an entry point called with it set is that enqueue's plumbing and records nothing.
    """

    def make_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def enqueue(self: Any, *args: Any, **kwargs: Any) -> Any:
            if current_trace.get() is None or (outer is not None and outer.get()):
                return original(self, *args, **kwargs)
            info = _describe(lib, describe, self, args, kwargs)
            call = None if info is None else _begin(lib, info)
            if call is None:
                return original(self, *args, **kwargs)
            token = outer.set(True) if outer is not None and info is not None and not info.inline else None
            try:
                result = original(self, *args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            finally:
                if token is not None:
                    _reset(outer, token)
            call.finish()
            return result

        return enqueue

    return make_wrapper


def _reset(var: ContextVar[bool] | None, token: Token[bool]) -> None:
    if var is None:
        return
    try:
        var.reset(token)
    except ValueError:  # reset in another context than it was set in: leave the flag off there
        var.set(False)


def async_task_wrapper(lib: str, describe: Describe) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``make_wrapper`` for :meth:`Hook.patch` around a coroutine enqueue method (``aenqueue``)."""

    def make_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        async def aenqueue(self: Any, *args: Any, **kwargs: Any) -> Any:
            if current_trace.get() is None:
                return await original(self, *args, **kwargs)
            info = _describe(lib, describe, self, args, kwargs)
            call = None if info is None else _begin(lib, info)
            if call is None:
                return await original(self, *args, **kwargs)
            try:
                result = await original(self, *args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            call.finish()
            return result

        return aenqueue

    return make_wrapper


def function_task_wrapper(lib: str, describe: Describe) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``make_wrapper`` for a module-level enqueue function (``describe`` gets ``None`` as ``self``)."""

    def make_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def enqueue(*args: Any, **kwargs: Any) -> Any:
            if current_trace.get() is None:
                return original(*args, **kwargs)
            info = _describe(lib, describe, None, args, kwargs)
            call = None if info is None else _begin(lib, info)
            if call is None:
                return original(*args, **kwargs)
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            call.finish()
            return result

        return enqueue

    return make_wrapper
