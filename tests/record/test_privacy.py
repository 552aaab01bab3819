"""Privacy by construction: identifiers masked in paths, literals out of SQL, and, end to end, no secret a
request carries anywhere in the record file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client, override_settings

from async_audit.record.hooks import installed_hooks
from async_audit.record.privacy import clean_host, mask_path, sql_fingerprint
from async_audit.record.sink import get_sink, reset_sink
from tests.record.hooks.conftest_mail import use_mailer
from tests.site.privacy_views import SECRETS


@pytest.mark.parametrize(
    ("path", "masked"),
    [
        ("/v1/customers/cus_9s6XKzkNRiz8i3", "/v1/customers/{id}"),
        ("/users/42/orders/7/", "/users/{id}/orders/{id}/"),
        ("/items/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/items/{id}"),
        ("/blobs/9f2c4a1be07d3e55aa", "/blobs/{id}"),
        ("/contacts/alice@example.com/notes", "/contacts/{id}/notes"),
        ("/contacts/alice%40example.com", "/contacts/{id}"),
        ("/users/12,13,14", "/users/{id}"),
        ("/search?q=alice@example.com&token=abc#frag", "/search"),
        ("/a;jsessionid=SECRET123/b", "/a"),
        ("http://user:pw@api.example.com/v1/x/99?k=v", "/v1/x/{id}"),
        ("v1/charges", "/v1/charges"),
        ("", "/"),
        ("/services/T8RJKQ2LX/B01ABCDEF/aBcD1234eFgH5678iJkL9012", "/services/{id}/{id}/{id}"),
        ("/api/v2/contacts/search", "/api/v2/contacts/search"),
        ("/hooks/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0", "/hooks/{id}"),
        ("/reports/2024-05-01", "/reports/{id}"),
        ("/_doc/_bulk", "/_doc/_bulk"),
    ],
)
def test_mask_path(path: str, masked: str) -> None:
    assert mask_path(path) == masked


def test_mask_path_is_bounded() -> None:
    assert len(mask_path("/" + "word/" * 500)) == 512


@pytest.mark.parametrize(
    ("host", "clean"),
    [
        ("user:pw@API.Example.com:8443", "api.example.com"),
        ("[::1]:8000", "::1"),
        ("example.com", "example.com"),
        (None, ""),
    ],
)
def test_clean_host(host: str | None, clean: str) -> None:
    assert clean_host(host) == clean


@pytest.mark.parametrize(
    ("sql", "fingerprint"),
    [
        (
            'SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."email" = \'a@b.com\' LIMIT 21',
            'SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."email" = ? LIMIT ?',
        ),
        ("SELECT * FROM t WHERE a = %s AND b = %(name)s", "SELECT * FROM t WHERE a = ? AND b = ?"),
        (
            "SELECT * FROM t WHERE a = $1 AND b = :name AND c = ?",
            "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?",
        ),
        ("SELECT * FROM t WHERE id IN (%s, %s, %s)", "SELECT * FROM t WHERE id IN (...)"),
        (
            "INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s), (%s, %s)",
            "INSERT INTO t (a, b) VALUES (?, ?), ...",
        ),
        ("SELECT 'it''s' , E'\\'x' FROM t1", "SELECT ? , ? FROM t1"),
        ("SELECT col2 FROM table1 WHERE x > -5.5e3", "SELECT col2 FROM table1 WHERE x > ?"),
        ("SELECT  *\n\tFROM   t", "SELECT * FROM t"),
        ("SELECT created::date FROM t WHERE n = 1", "SELECT created::date FROM t WHERE n = ?"),
        ("SELECT $$secret body$$ FROM t", "SELECT ? FROM t"),
        ("SELECT $tag$secret$tag$, $1 FROM t", "SELECT ?, ? FROM t"),
        ('SELECT * FROM users WHERE email = "carol@example.com"', "SELECT * FROM users WHERE email = ?"),
        ("SELECT * FROM `auth_user` WHERE `id` = 3", "SELECT * FROM `auth_user` WHERE `id` = ?"),
    ],
)
def test_sql_fingerprint(sql: str, fingerprint: str) -> None:
    assert sql_fingerprint(sql) == fingerprint


def test_sql_fingerprint_is_bounded_and_takes_non_strings() -> None:
    assert len(sql_fingerprint("SELECT " + "a, " * 2000 + "b FROM t")) == 2000
    assert sql_fingerprint(b"SELECT 1") == "b?"  # type: ignore[arg-type] - a bytes statement from a driver


# -- end to end --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_secret_a_request_carries_reaches_the_record_file(tmp_path: Path, api_port: int) -> None:
    s = SECRETS
    settings = {"OUTPUT_DIR": str(tmp_path), "SLOW_SQL_MS": 0, "PROJECT_ROOTS": ["tests"]}
    client = Client(raise_request_exception=True)
    with override_settings(ASYNC_AUDIT=settings), use_mailer("django.core.mail.backends.locmem.EmailBackend"):
        reset_sink()
        try:
            response = client.post(
                f"/privacy/accounts/{s['path_email']}/reset/{s['path_token']}/"
                f"?q={s['query']}&email={s['query_email']}&port={api_port}",
                data=s["body"],
                content_type="text/plain",
                HTTP_AUTHORIZATION=f"Bearer {s['header']}",
                HTTP_COOKIE=f"sessionid={s['cookie']}",
            )
            assert response.status_code == 200, response.content
            assert response.json()["sent"] == 1
            client.get(f"/hello/?token={s['query']}&email={s['query_email']}")
            client.get("/slow-sql/")
            assert get_sink().flush()
        finally:
            reset_sink()
    files = list(tmp_path.glob("*.jsonl"))
    assert files
    text = "".join(p.read_text(encoding="utf-8") for p in files)
    records = [json.loads(line) for line in text.splitlines()]
    # The request was recorded, and so was what it did: otherwise finding nothing would prove nothing.
    (account,) = [r for r in records if r["view"] == "tests.site.privacy_views.account"]
    assert account["route"] == "privacy/accounts/<str:email>/reset/<str:token>/"
    kinds = {c["kind"] for c in account["calls"]}
    assert "sql" in kinds
    if "http.client" in installed_hooks():
        (http,) = [c for c in account["calls"] if c["kind"] == "http"]
        assert http["host"] == "127.0.0.1" and http["path"] == "/accounts/{id}/{id}"
    if "django.mail" in installed_hooks():
        assert "email" in kinds
    for name, secret in {**s, "hunter2": "hunter2", "param": "param-secret-value"}.items():
        assert secret not in text, f"{name} leaked into the record file"
    assert "@" not in text
