"""Silk's SQL text, made safe: silk stores each statement with its parameters pasted in, unquoted.

``silk.sql.execute_sql`` writes ``q % params``: ``WHERE "auth_user"."email" = alice@example.com``. The
parameters carry no quotes, so a fingerprint that only replaces literals would keep them. Here every token
that is not SQL vocabulary (keywords, function names), a plain quoted identifier, an operator or punctuation
becomes ``?`` before :func:`async_audit.record.privacy.sql_fingerprint` folds the result.

Limit: a parameter holding a lower-case word in double quotes (``he said "hello"``) keeps that word, since
Django quotes every identifier that way.
"""

from __future__ import annotations

import re

from async_audit.record.privacy import sql_fingerprint

__all__ = ["silk_sql_fingerprint"]

# SQL vocabulary Django's compilers and common hand-written statements use: kept as written (upper-cased).
_KEYWORDS = frozenset(
    """
    select from where and or not in is null like ilike between exists as on join inner left right full outer
    cross natural using order by group having limit offset fetch first next rows row only asc desc nulls last
    distinct all any some union intersect except insert into values default update set delete returning
    case when then else end cast collate escape for of nowait skip locked share key no with recursive
    begin commit rollback savepoint release to transaction explain analyze query plan create drop alter table
    index view trigger unique primary foreign references constraint check if replace conflict do nothing
    true false count sum avg min max coalesce nullif greatest least lower upper length substr substring
    trim concat round abs now date time timestamp interval extract epoch year month day hour minute second
    json_extract jsonb_extract_path django_format_dtdelta django_datetime_cast_date django_date_trunc
    django_datetime_trunc django_datetime_extract django_date_extract random over partition window range
    filter within array_agg string_agg group_concat integer int bigint smallint text varchar char boolean
    real float double precision numeric decimal uuid jsonb json bytea blob similar regexp glob match
    """.split()
)
_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")  # Django's table, column and alias names
_TOKEN = re.compile(
    r"""
    (?P<dq>"[^"\n]*")            # "identifier"
    |(?P<bt>`[^`\n]*`)           # `identifier` (MySQL)
    |(?P<word>[A-Za-z_][\w$]*)
    |(?P<op><>|!=|<=|>=|::|\|\||[=<>*+/%(),.;-])
    |(?P<space>\s+)
    |(?P<other>.)
    """,
    re.X | re.S,
)


def _mask(text: str) -> str:
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        token = m.group()
        if kind == "space":
            out.append(" ")
        elif kind in ("dq", "bt"):
            out.append(token if _IDENT.fullmatch(token[1:-1]) else "?")
        elif kind == "word":
            out.append(token.upper() if token.lower() in _KEYWORDS else "?")
        elif kind == "op":
            out.append(token)
        else:
            out.append("?")
    masked = "".join(out)
    # A pasted value made of several tokens (alice@example.com, 2026-11-28 01:20:00) collapses to one "?".
    return re.sub(r"\?(?:\s*[-.:/+@%]?\s*\?)+", "?", masked)


def silk_sql_fingerprint(query: str, limit: int = 2000) -> str:
    """The parameter-free fingerprint of a statement as silk stored it."""
    return sql_fingerprint(_mask(query), limit)
