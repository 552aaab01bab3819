"""``track()``: mark a block of the project's own work (a PDF render, an image resize) as a ``block`` call."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, overload

from async_audit.record.trace import Call, begin_call

F = TypeVar("F", bound=Callable[..., Any])


class track:  # noqa: N801 - reads as a function: ``with track("pdf"):`` / ``@track("pdf")``
    """Record a block of work as a call of kind ``block`` named ``name``.

    As a context manager (``with track("render invoice pdf"):``), or a decorator with or without a name
    (``@track``, ``@track("resize")``) on sync and async functions. Outside a request it does nothing.
    Blocks nest: calls made inside one are its children.
    """

    __slots__ = ("name", "_calls")

    @overload
    def __new__(cls, name: str) -> track: ...

    @overload
    def __new__(cls, name: F) -> F: ...  # type: ignore[misc]

    def __new__(cls, name: Any) -> Any:
        if callable(name) and not isinstance(name, str):
            # Bare ``@track``: the function's qualified name names the block.
            return cls(f"{name.__module__}.{name.__qualname__}")(name)
        return super().__new__(cls)

    def __init__(self, name: str) -> None:
        self.name = str(name)
        self._calls: list[Call | None] = []

    def __enter__(self) -> track:
        self._calls.append(begin_call("block", "track", nest_same_kind=True, depth=2, name=self.name))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        call = self._calls.pop() if self._calls else None
        if call is None:
            return
        if exc is not None:
            call.fail(exc)
        else:
            call.finish()

    def __call__(self, func: F) -> F:
        name = self.name
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                call = begin_call("block", "track", nest_same_kind=True, depth=2, name=name)
                if call is None:
                    return await func(*args, **kwargs)
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    call.fail(exc)
                    raise
                call.finish()
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call = begin_call("block", "track", nest_same_kind=True, depth=2, name=name)
            if call is None:
                return func(*args, **kwargs)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            call.finish()
            return result

        return wrapper  # type: ignore[return-value]
