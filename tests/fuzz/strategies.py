"""Hypothesis strategies for the fuzz tests: hostile text, extreme numbers, records built from them.

Hostile text carries a marker element, ``<x-inject>``, and a marker link, ``[x-link](javascript:x)``: a
renderer that lets either through unescaped is caught by looking for the marker, not by guessing.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

from tests.analyze.records import call, request, site

MARK_TAG = "x-inject"
MARK_LINK = "[x-link](javascript:x)"

SNIPPETS = [
    f"<{MARK_TAG} onload=alert(1)>",
    f"</textarea></script><{MARK_TAG}>",
    "<script>alert(document.cookie)</script>",
    '"><img src=x onerror=alert(1)>',
    MARK_LINK,
    "![x-img](http://evil.example/x.png)",
    "`code` **bold** _em_ | cell | ~~strike~~",
    "# heading",
    "1. item",
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
    "\x00\x01\x1b[31m\x7f",
    "\u2028\u2029",
    "\ufeff\u202e",
    "{{ 7*7 }} {% raw %}",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "\\u003c",
    "&lt;&amp;",
    "a" * 3000,
]

hostile_text = st.one_of(
    st.sampled_from(SNIPPETS),
    st.text(max_size=40),
    st.lists(st.sampled_from(SNIPPETS), min_size=2, max_size=3).map(" ".join),
    st.tuples(st.text(max_size=10), st.sampled_from(SNIPPETS)).map("".join),
)

extreme_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf]),
    st.integers(min_value=-(2**70), max_value=2**70),
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), extreme_numbers, hostile_text),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)

durations = st.one_of(
    st.floats(min_value=0.0, max_value=120_000.0, allow_nan=False),
    st.sampled_from([0.0, 1e-9, 9e9, 29_999.9, 30_000.0]),  # the loader refuses 1e10 and up
)


@st.composite
def hostile_calls(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["http", "email", "sql", "task", "block"]))
        where = site(draw(hostile_text) or "app/views.py", draw(st.integers(0, 10**9)), draw(hostile_text))
        extra: dict[str, Any] = {"via": draw(st.one_of(st.none(), hostile_text))}
        if draw(st.booleans()):
            extra["error"] = draw(hostile_text)
        if kind == "http":
            extra.update(
                host=draw(hostile_text),
                method=draw(st.one_of(st.sampled_from(["GET", "POST"]), hostile_text)),
                path=draw(hostile_text),
                timeout=draw(st.one_of(st.none(), durations)),
                status=draw(st.one_of(st.none(), st.integers(0, 999))),
            )
        elif kind == "task":
            extra.update(task=draw(hostile_text), queue=draw(st.one_of(st.none(), hostile_text)))
        elif kind == "block":
            extra["name"] = draw(hostile_text)
        elif kind == "sql":
            extra["sql"] = draw(hostile_text)
        elif kind == "email":
            extra["backend"] = draw(hostile_text)
        parent = draw(st.one_of(st.none(), st.integers(0, n - 1))) if n else None
        out.append(call(kind, draw(durations), draw(durations), parent=parent, at=where, **extra))
    return out


@st.composite
def hostile_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Valid version-1 records whose every text field is hostile and whose numbers are extreme but finite."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        route = draw(st.one_of(st.none(), hostile_text))
        record = request(
            draw(durations),
            draw(hostile_calls()),
            route=route,
            method=draw(hostile_text),
            ts=1_764_300_000.0 + draw(st.floats(0, 86_400, allow_nan=False)),
            view=draw(st.one_of(st.none(), hostile_text)),
            host=draw(hostile_text),
            status=draw(st.integers(0, 999)),
        )
        out.append(record)
    return out


def dumps(record: Any) -> bytes:
    """A record as the line a (possibly broken) writer would leave: NaN and infinities as bare tokens."""
    return json.dumps(record, allow_nan=True).encode("utf-8", "surrogatepass")
