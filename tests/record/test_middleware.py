from __future__ import annotations

import asyncio
import json

import pytest
from django.test import Client, override_settings

from async_audit.testing import capture_records


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def test_records_a_request_with_route_and_view(client: Client) -> None:
    with capture_records() as records:
        response = client.get("/hello/?token=secret")
    assert response.status_code == 200
    (record,) = records
    assert record["v"] == 1
    assert len(record["id"]) == 16 and int(record["id"], 16) >= 0
    assert record["method"] == "GET"
    assert record["route"] == "hello/"
    assert record["view"] == "tests.site.views.hello"
    assert record["status"] == 200
    assert record["proto"] == "wsgi"
    assert record["ms"] > 0
    assert record["cpu_ms"] is not None and record["cpu_ms"] >= 0
    assert record["calls"] == []
    assert record["dropped"] == 0
    assert "secret" not in json.dumps(record)


@pytest.mark.django_db(transaction=True)
def test_counts_every_statement_including_raw_cursor_sql(client: Client) -> None:
    with capture_records() as records:
        client.get("/notes/7/?text=hello")
    (record,) = records
    assert record["route"] == "notes/<int:pk>/"
    # INSERT, the raw cursor SELECT, and the ORM COUNT.
    assert record["db"]["n"] == 3
    assert record["db"]["ms"] > 0
    assert record["calls"] == []  # none slower than SLOW_SQL_MS


@pytest.mark.django_db(transaction=True)
def test_slow_sql_is_a_parameter_free_fingerprint(client: Client) -> None:
    with override_settings(ASYNC_AUDIT={"SLOW_SQL_MS": 0, "PROJECT_ROOTS": ["tests"]}):
        with capture_records() as records:
            client.get("/slow-sql/")
    (record,) = records
    (call,) = record["calls"]
    assert call["kind"] == "sql" and call["lib"] == "django.db" and call["alias"] == "default"
    assert "WITH RECURSIVE" in call["sql"]
    text = json.dumps(record)
    assert "hunter2" not in text and "param-secret-value" not in text
    assert call["site"]["file"] == "site/views.py" and call["site"]["function"] == "slow_sql"


def test_view_exception_is_recorded_and_propagates_unchanged(client: Client) -> None:
    with capture_records() as records:
        response = client.get("/boom/")
    assert response.status_code == 500
    assert records[0]["status"] == 500
    assert records[0]["route"] == "boom/"


def test_not_found_has_no_route(client: Client) -> None:
    with capture_records() as records:
        response = client.get("/nowhere/123/")
    assert response.status_code == 404
    assert records[0]["route"] is None and records[0]["view"] is None


def test_re_path_route_is_the_pattern_not_the_path(client: Client) -> None:
    with capture_records() as records:
        client.get("/legacy/some-customer-name/")
    assert records[0]["route"] == "^legacy/(?P<slug>[-\\w]+)/$"


def test_ignored_paths_and_disabled_record_nothing(client: Client) -> None:
    with override_settings(ASYNC_AUDIT={"IGNORE_PATHS": ["/hello/", "^/notes/\\d+/$"]}):
        with capture_records() as records:
            client.get("/hello/")
    assert records == []
    with override_settings(ASYNC_AUDIT={"ENABLED": False}):
        with capture_records() as records:
            client.get("/boom/")
    assert records == []


def test_sampling_out_records_nothing_unless_slow(client: Client) -> None:
    with override_settings(ASYNC_AUDIT={"SAMPLE_RATE": 0.0, "ALWAYS_RECORD_SLOWER_THAN_MS": None}):
        with capture_records() as records:
            client.get("/hello/")
    assert records == []
    with override_settings(ASYNC_AUDIT={"SAMPLE_RATE": 0.0, "ALWAYS_RECORD_SLOWER_THAN_MS": 0}):
        with capture_records() as records:
            client.get("/hello/")
    assert len(records) == 1


def test_responses_are_identical_with_and_without_the_recorder(client: Client) -> None:
    with override_settings(ASYNC_AUDIT={"ENABLED": False}):
        off = client.get("/hello/")
    on = client.get("/hello/")
    assert (on.status_code, on.content, sorted(on.headers.items())) == (
        off.status_code,
        off.content,
        sorted(off.headers.items()),
    )


@pytest.mark.django_db(transaction=True)
def test_async_view_under_asgi_keeps_calls_from_threads() -> None:
    from django.test import AsyncClient

    with capture_records() as records:
        response = asyncio.run(AsyncClient().get("/async/"))
    assert response.status_code == 200
    (record,) = records
    assert record["proto"] == "asgi"
    assert record["cpu_ms"] is None
    names = [c["name"] for c in record["calls"]]
    assert names == ["async block", "sync_to_async block", "to_thread block"]
    assert all(c["site"]["file"] == "site/views.py" for c in record["calls"])


def test_site_root_route_is_the_empty_pattern_not_the_url_name(client: Client) -> None:
    with capture_records() as records:
        client.get("/")
    assert records[0]["route"] == ""
    assert records[0]["view"] == "tests.site.views.hello"
