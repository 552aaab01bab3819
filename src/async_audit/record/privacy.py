"""Privacy by construction: what leaves a request is shaped here, before it is stored anywhere.

No bodies, headers, cookies, query strings, URL credentials, SQL parameters or email addresses are recorded.
Identifiers in URL paths become ``{id}`` so that paths group and carry no personal data.
"""

from __future__ import annotations

import re

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{12,}$")
_NUMERIC = re.compile(r"^[-+]?\d[\d,._-]*$")
_PREFIXED_ID = re.compile(r"^[A-Za-z]{1,8}_[A-Za-z0-9]{6,}$")  # Stripe-style: cus_9s6XKzkNRiz8i3, pi_3Nx...
_HAS_DIGIT = re.compile(r"\d")
_DIGIT_RUN = re.compile(r"\d{3,}")


def _is_identifier(segment: str) -> bool:
    if not segment:
        return False
    if _NUMERIC.match(segment) or _UUID.match(segment) or _HEX.match(segment):
        return True
    if "@" in segment or "%40" in segment.lower():
        return True
    if _PREFIXED_ID.match(segment) and _HAS_DIGIT.search(segment):
        return True
    if len(segment) >= 8 and segment.isalnum():
        digits = sum(c.isdigit() for c in segment)
        # Ids and secrets mix digits into letters (Slack's T8RJKQ2LX); words almost never carry two digits.
        if digits >= 2 and digits < len(segment):
            return True
        # Long base64-like tokens: mixed case with no word separators.
        if len(segment) >= 20 and segment.lower() != segment and segment.upper() != segment:
            return True
    if len(segment) >= 24 and re.fullmatch(r"[A-Za-z0-9_\-=.]+", segment) and _HAS_DIGIT.search(segment):
        return True  # JWT parts, signed tokens with separators
    return False


def mask_path(path: str) -> str:
    """A URL path with the query, fragment and identifiers removed: ``/v1/customers/{id}``."""
    for sep in ("?", "#", ";"):
        path = path.split(sep, 1)[0]
    if "://" in path:  # absolute-form request target (proxies): keep only the path
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if not path.startswith("/"):
        path = "/" + path
    segments = path.split("/")
    out = []
    for segment in segments:
        if _is_identifier(segment):
            out.append("{id}")
        elif "," in segment and all(_is_identifier(part) for part in segment.split(",")):
            out.append("{id}")  # /users/12,13,14
        else:
            # Ids inside names (inv-88123.pdf, export_20261128.csv): the digits go, the shape stays.
            out.append(_DIGIT_RUN.sub("{id}", segment))
    masked = "/".join(out)
    return masked[:512]


def clean_host(host: str | None) -> str:
    """A host name without credentials or port; IPv6 brackets kept out."""
    if not host:
        return ""
    host = host.rpartition("@")[2]
    if host.startswith("["):
        return host[1:].partition("]")[0].lower()
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.lower()


# Single quotes are literals; double quotes and backticks are identifiers (table and column names): kept.
_SQL_STRING = re.compile(r"[EN]?'(?:[^'\\]|''|\\.)*'", re.I)
# PostgreSQL dollar quoting ($$...$$, $tag$...$tag$); a tag never starts with a digit, so $1 is left alone.
_SQL_DOLLAR = re.compile(r"\$((?:[A-Za-z_]\w*)?)\$.*?\$\1\$", re.S)
# A double-quoted "identifier" holding an address is a MySQL string literal written by hand.
_SQL_DQ_ADDRESS = re.compile(r'"[^"\n]*@[^"\n]*"')
_SQL_NUMBER = re.compile(r"(?<![\w$.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w$])")
# ``:name`` placeholders, but not PostgreSQL casts (``created::date``).
_SQL_PLACEHOLDER = re.compile(r"%s|%\(\w+\)s|\?|\$\d+|(?<![:\w]):(?!:)\w+")
_SQL_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)+\s*\)", re.I)
_SQL_VALUES = re.compile(r"VALUES\s*(\(\s*\?(?:\s*,\s*\?)*\s*\))(?:\s*,\s*\(\s*\?(?:\s*,\s*\?)*\s*\))+", re.I)
_SPACE = re.compile(r"\s+")


def sql_fingerprint(sql: str, limit: int = 2000) -> str:
    """A statement with every literal and placeholder as ``?``, lists collapsed, whitespace folded."""
    text = sql if isinstance(sql, str) else str(sql)
    text = _SQL_DOLLAR.sub("?", text)
    text = _SQL_STRING.sub("?", text)
    text = _SQL_DQ_ADDRESS.sub("?", text)
    text = _SQL_PLACEHOLDER.sub("?", text)
    text = _SQL_NUMBER.sub("?", text)
    text = _SQL_VALUES.sub(lambda m: "VALUES " + m.group(1) + ", ...", text)
    text = _SQL_IN_LIST.sub("IN (...)", text)
    text = _SPACE.sub(" ", text).strip()
    return text[:limit]
