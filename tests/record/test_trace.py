"""A request's JSON line, written straight from its packed figures, is the record the format defines."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from async_audit.record import trace
from async_audit.record.sink import _encoders, build_record
from async_audit.record.trace import FORMAT_VERSION, encode_request

# Every kind of text a site can put into a record: quotes, backslashes, control characters, non-ASCII.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
maybe_text = st.none() | text
ints = st.integers(min_value=-(2**63), max_value=2**63)
floats = st.floats(allow_nan=True, allow_infinity=True)
# A field holds values of one type, or None, as every hook makes them: the writer memoises a call's text by
# value (True == 1 == 1.0). The field's name picks its type here.
value_types = [st.booleans(), ints, floats, text, st.builds(Decimal, st.integers(0, 10**6))]


def values_for(name: str) -> st.SearchStrategy[Any]:
    return st.none() | value_types[sum(map(ord, name)) % len(value_types)]


ns = st.integers(min_value=0, max_value=10**12)


def millis(ns: int) -> float:
    """Nanoseconds as milliseconds to three decimals, a tie rounded away from zero."""
    return float((Decimal(ns) / 1_000_000).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def reference(packed: tuple[Any, ...], counts: tuple[int, int, int]) -> dict[str, Any]:
    """The record as the format (DESIGN.md "The record") defines it, built as dicts the plain way."""
    (_, request_id, ts_ns, start, end, cpu_start, cpu_end, host, pid, proto) = packed[:10]
    (method, route, view, status, db_n, db_ns, dropped) = packed[10:17]
    calls = []
    for call in packed[17:]:
        kind, lib, via, t_ns, c_start, c_end, parent, atomic, frames, error, fields = call
        stack = [
            {"file": frames[i], "line": frames[i + 1], "function": frames[i + 2]}
            for i in range(0, len(frames), 3)
        ]
        if c_end is None:
            ms = millis(end - start - t_ns)
            error = error or "Unfinished"
        else:
            ms = millis(c_end - c_start)
        data = {
            "kind": kind,
            "lib": lib,
            "via": via,
            "t": millis(t_ns),
            "ms": ms,
            "parent": parent,
            "atomic": atomic,
            "site": stack[0] if stack else None,
            "stack": stack,
            "error": error,
        }
        for i in range(0, len(fields), 2):
            value = fields[i + 1]
            data[fields[i]] = str(value) if isinstance(value, Decimal) else value
        calls.append(data)
    return {
        "v": FORMAT_VERSION,
        "id": request_id,
        "ts": ts_ns // 1000 / 1e6,  # to the microsecond, rounded down
        "host": host,
        "pid": pid,
        "proto": proto,
        "method": method,
        "route": route,
        "view": view,
        "status": status,
        "ms": millis(end - start),
        "cpu_ms": None if cpu_start is None or cpu_end is None else millis(cpu_end - cpu_start),
        "db": {"n": db_n, "ms": millis(db_ns)},
        "dropped": dropped,
        "unsampled": counts[2],
        "lost": {"queue": counts[0], "write": counts[1]},
        "calls": calls,
    }


@st.composite
def packed_calls(draw: st.DrawFn) -> tuple[Any, ...]:
    start = draw(ns)
    frames: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        frames += [draw(text), draw(st.none() | st.integers(0, 10**6)), draw(text)]
    names = draw(st.lists(st.text("abcdefgh_", min_size=1, max_size=8), unique=True, max_size=4))
    reserved = {"kind", "lib", "via", "t", "ms", "parent", "atomic", "site", "stack", "error"}
    fields: list[Any] = []
    for name in names:
        if name not in reserved:
            fields += [name, draw(values_for(name))]
    return (
        draw(text),
        draw(text),
        draw(maybe_text),
        draw(ns),
        start,
        draw(st.none() | st.integers(start, start + 10**10)),
        draw(st.none() | st.integers(0, 500)),
        draw(st.booleans()),
        tuple(frames),
        draw(maybe_text),
        tuple(fields),
    )


@st.composite
def packed_requests(draw: st.DrawFn) -> tuple[Any, ...]:
    start = draw(ns)
    cpu_start = draw(st.none() | ns)
    return (
        "request",
        draw(st.text("0123456789abcdef", min_size=16, max_size=16)),
        draw(st.integers(min_value=0, max_value=4 * 10**18)),  # time.time_ns()
        start,
        draw(st.integers(start, start + 10**11)),
        cpu_start,
        None if cpu_start is None else draw(st.integers(cpu_start, cpu_start + 10**10)),
        draw(text),
        draw(st.integers(1, 2**22)),
        draw(st.sampled_from(["wsgi", "asgi"])),
        draw(text),
        draw(maybe_text),
        draw(maybe_text),
        draw(st.integers(100, 599)),
        draw(st.integers(0, 10**4)),
        draw(ns),
        draw(st.integers(0, 10**4)),
        *draw(st.lists(packed_calls(), max_size=4)),
    )


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN (a field the site set to NaN is written as json writes it)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(packed_requests(), st.tuples(ints, ints, ints))
def test_the_line_is_json_and_holds_the_record_the_format_defines(
    packed: tuple[Any, ...], counts: tuple[int, int, int]
) -> None:
    line = encode_request(packed, counts)
    assert "\n" not in line  # one record, one line, whatever the site's strings hold
    assert same(json.loads(line), reference(packed, counts))


# The writer's encoder: in C (_callsite.c) where the C walk is in use, else encode_request itself.
in_c = _encoders["request"] is not encode_request


@contextmanager
def c_encoder_handing_back_to(handed_back: list[tuple[Any, ...]]) -> Iterator[Any]:
    """The C encoder, with what it hands back to Python noted in ``handed_back``."""
    from async_audit.record import _callsite

    def python(packed: tuple[Any, ...], counts: tuple[int, int, int]) -> str:
        handed_back.append(packed)
        return encode_request(packed, counts)

    _callsite.configure_encoder(
        trace._VERSION,
        trace._NO_QUERIES,
        trace._requests,
        trace._counters,
        trace._calls,
        trace._call_parts,
        trace._string,
        trace.random.getrandbits,
        python,
    )
    try:
        yield _callsite.encode_request
    finally:
        trace._fast_encoder()  # configured again as the module configures it


@settings(max_examples=300, deadline=None)
@given(packed_requests(), st.tuples(ints, ints, ints))
def test_the_c_encoder_writes_the_same_line_without_handing_it_back(
    packed: tuple[Any, ...], counts: tuple[int, int, int]
) -> None:
    if not in_c:
        return  # the writer uses encode_request: the test above is the whole story
    handed_back: list[tuple[Any, ...]] = []
    with c_encoder_handing_back_to(handed_back) as encode:
        line = encode(packed, counts)
    assert line == encode_request(packed, counts)
    assert handed_back == []  # every figure of these records is within what the C encoder takes


def test_the_c_encoder_hands_back_what_it_does_not_expect() -> None:
    if not in_c:
        pytest.skip("the C encoder is not in use")
    call = ("http", "x", None, 1, 1, 2, None, False, (), None, ())
    head = ("request", "a" * 16, 1_700_000_000_000_000_000)
    tail = (5_000_000, None, None, "h", 1, "wsgi", "GET", "", "v", 200, 0, 0, 0)
    odd = [
        (*head, 2**70, *tail, call),  # a clock reading past 2**60
        (*head, 0, *tail, ("http",)),  # a call of another shape
        (*head, 0, *tail, call[:3] + (1.5,) + call[4:]),  # a timing that is a float
    ]

    def outcome(encode: Any, packed: tuple[Any, ...]) -> Any:
        try:
            return encode(packed, (0, 0, 0))
        except Exception as error:  # noqa: BLE001 - the same error, from either
            return type(error)

    handed_back: list[tuple[Any, ...]] = []
    with c_encoder_handing_back_to(handed_back) as encode:
        for packed in odd:
            assert outcome(encode, packed) == outcome(encode_request, packed)
    assert handed_back == odd


def test_a_request_without_an_id_gets_one_and_captures_read_the_line_back() -> None:
    packed = (
        "request",
        None,
        1_500_000_000,
        0,
        2_000_000,
        None,
        None,
        "h",
        1,
        "wsgi",
        "GET",
        "",
        "v",
        200,
        0,
        0,
        0,
    )
    record = build_record(packed)
    assert len(record["id"]) == 16 and int(record["id"], 16) >= 0
    assert record["route"] == "" and record["cpu_ms"] is None and record["ms"] == 2.0 and record["ts"] == 1.5
    assert record["lost"] == {"queue": 0, "write": 0} and record["unsampled"] == 0


@pytest.mark.parametrize(
    "ns",
    [0, 1, 499, 500, 501, 999, 999_500, 1_000_499, 1_000_500, 123_456_789_500, -1, -400, -500, -501, -1500],
)
def test_both_encoders_round_milliseconds_alike(ns: int) -> None:
    # Ties at half a microsecond round away from zero (reference() above says so); drawn values rarely
    # land on one.
    call = ("http", "x", None, 7_000_500, 10, 10 + ns, None, False, (), None, ())
    packed = ("request", "a" * 16, 1_700_000_000_000_000_500, 0, ns, 0, ns, "h", 1, "wsgi", "GET", "", "v")
    packed += (200, 1, ns, 0, call)
    line = _encoders["request"](packed, (0, 0, 0))
    assert line == encode_request(packed, (0, 0, 0))
    assert same(json.loads(line), reference(packed, (0, 0, 0)))
