# The optional C call-site walk (_callsite.c); see async_audit.record.frames.
from collections.abc import Callable
from types import CodeType
from typing import Any

def configure(
    modules: dict[int, tuple[Any, ...]],
    codes: dict[int, tuple[Any, ...]],
    module_entry: Callable[[CodeType, dict[str, Any]], tuple[Any, ...]],
    code_entry: Callable[[CodeType, dict[str, Any]], tuple[Any, ...]],
    max_stack: int,
    /,
) -> None: ...
def clear() -> None: ...
def walk(depth: int, /) -> tuple[tuple[Any, ...], str | None]: ...
