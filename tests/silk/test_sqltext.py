from __future__ import annotations

import pytest

from async_audit.silk.sqltext import silk_sql_fingerprint


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (
            'SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."email" = alice@example.com LIMIT 21',
            'SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."email" = ? LIMIT ?',
        ),
        (
            'SELECT COUNT(*) AS "__count" FROM "t" WHERE "t"."id" IN (1, 2, 3)',
            'SELECT COUNT(*) AS "__count" FROM "t" WHERE "t"."id" IN (...)',
        ),
        (
            'UPDATE "shop_order" SET "note" = Call me at 555-0100, "paid" = 2026-11-28 01:20:00+00:00 '
            'WHERE "shop_order"."id" = 7',
            'UPDATE "shop_order" SET "note" = ?, "paid" = ? WHERE "shop_order"."id" = ?',
        ),
    ],
)
def test_pasted_parameters_become_placeholders(stored: str, expected: str) -> None:
    assert silk_sql_fingerprint(stored) == expected


@pytest.mark.parametrize(
    "value",
    [
        "alice@example.com",
        "sk_live_51HxYzAbCdEf",
        "Hunter2 Password",
        "O'Brien",
        'say "Hello" Bob',
        "4111111111111111",
    ],
)
def test_no_parameter_text_survives(value: str) -> None:
    fingerprint = silk_sql_fingerprint(f'SELECT "a"."id" FROM "a" WHERE "a"."x" = {value} AND "a"."y" = 1')
    assert fingerprint == 'SELECT "a"."id" FROM "a" WHERE "a"."x" = ? AND "a"."y" = ?'


def test_sql_words_inside_a_value_stay_as_vocabulary_only() -> None:
    # Silk's text cannot tell a pasted "on" from the keyword: it stays, upper-cased, and nothing else does.
    fingerprint = silk_sql_fingerprint('UPDATE "t" SET "note" = call me on monday WHERE "t"."id" = 7')
    assert fingerprint == 'UPDATE "t" SET "note" = ? ON ? WHERE "t"."id" = ?'
