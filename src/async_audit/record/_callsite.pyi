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
def configure_http(
    trace_type: type,
    call_type: type,
    flight_type: type,
    open_call: Any,
    trace_globals: dict[str, Any],
    walk: Callable[[int], tuple[tuple[Any, ...], str | None]],
    hosts: dict[str, str],
    masked: dict[int, str],
    cleaned_host: Callable[[str], str],
    masked_path: Callable[[str], str],
    clock: Callable[[], int],
    for_request: Callable[..., Any],
    end: Callable[..., None],
    status_code: Callable[[Any], int | None],
    in_atomic_block: Callable[[], bool],
    thread_local: Any,
    connections: Any,
    /,
) -> None: ...
def http_begin(trace: Any, conn: Any, method: Any, url: Any, /) -> Any: ...
def http_end(in_flight: Any, exc: BaseException | None, status: Any, timeout: Any, /) -> None: ...
def configure_encoder(
    version: str,
    no_queries: str,
    requests: dict[Any, str],
    counters: dict[Any, str],
    calls: dict[Any, tuple[str, str]],
    call_parts: Callable[[tuple[Any, ...]], tuple[str, str]],
    string: Callable[[str], str],
    getrandbits: Callable[[int], int],
    python_encode: Callable[[tuple[Any, ...], tuple[int, int, int]], str],
    /,
) -> None: ...
def encode_request(packed: tuple[Any, ...], counts: tuple[int, int, int], /) -> str: ...
