from __future__ import annotations

import pytest
from django.test import Client

from async_audit import track
from async_audit.testing import capture_records


def test_track_outside_a_request_does_nothing() -> None:
    with track("nothing"):
        value = 1

    @track
    def f() -> int:
        return 2

    assert value + f() == 3


def test_track_context_manager_and_decorator_nest() -> None:
    with capture_records() as records:
        Client().get("/tracked/")
    calls = records[0]["calls"]
    assert [(c["kind"], c["name"], c["parent"]) for c in calls] == [
        ("block", "render report", None),
        ("block", "tests.site.views.render_chart", 0),
    ]
    outer, inner = calls
    assert outer["ms"] >= 2.0 and outer["ms"] >= inner["ms"]
    assert outer["site"] == {"file": "site/views.py", "line": outer["site"]["line"], "function": "tracked"}
    assert inner["site"]["function"] == "tracked"  # the decorated function's caller
    assert inner["t"] >= outer["t"]


@pytest.mark.django_db(transaction=True)
def test_atomic_flag() -> None:
    with capture_records() as records:
        Client().get("/atomic/")
    flags = {c["name"]: c["atomic"] for c in records[0]["calls"]}
    assert flags == {"inside atomic": True, "outside atomic": False}


def test_track_records_errors_and_reraises() -> None:
    from async_audit.record.trace import Trace, current_trace

    trace = Trace("0" * 16, 10, 100.0, "wsgi")
    token = current_trace.set(trace)
    try:
        with pytest.raises(ValueError, match="user error"):
            with track("fails"):
                raise ValueError("user error")
    finally:
        current_trace.reset(token)
    assert trace.calls[0].error == "ValueError"


def test_call_site_walk_stops_at_the_request_entry() -> None:
    from django.core.handlers.base import BaseHandler

    from async_audit.middleware import AuditMiddleware
    from async_audit.record.frames import _stop_codes

    for code in (
        BaseHandler._get_response.__code__,  # type: ignore[attr-defined]
        BaseHandler._get_response_async.__code__,  # type: ignore[attr-defined]
        AuditMiddleware.__call__.__code__,
        AuditMiddleware.__acall__.__code__,
    ):
        assert _stop_codes[id(code)] is code
