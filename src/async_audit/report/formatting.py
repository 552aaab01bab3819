"""Numbers and text as people read them, and the escaping each text format needs.

Shared by the templates (as Jinja filters), the charts and the machine formats, so "4.2 s" reads the same
everywhere.
"""

from __future__ import annotations

import datetime as dt
import math
import re

#: Readable names of the finding kinds, categories and dispositions of the report model.
KIND_LABELS = {
    "defer": "Move to a background task",
    "keep_sync": "Keep synchronous",
    "batch": "Repeated call",
    "timeout_risk": "Timeout risk",
    "no_timeout": "Call without a timeout",
    "fake_async": "Task runs inside the request",
}
CATEGORY_LABELS = {
    "email": "Email",
    "notification": "Notification",
    "api_write": "API write",
    "api_read": "API read",
    "search_index": "Search indexing",
    "search_query": "Search query",
    "payment": "Payment",
    "storage": "Storage upload",
    "compute": "Computation",
    "sql": "Slow SQL",
    "task": "Task enqueue",
    "other": "Other",
}
#: The categories as nouns inside a sentence ("Move the email at ...").
CATEGORY_NOUNS = {
    "email": "email",
    "notification": "notification",
    "api_write": "API write",
    "api_read": "API read",
    "search_index": "search-index update",
    "search_query": "search query",
    "payment": "payment call",
    "storage": "upload",
    "compute": "computation",
    "sql": "slow SQL statement",
    "task": "task enqueue",
    "other": "call",
}
DISPOSITION_LABELS = {
    "defer": "Defer",
    "keep_sync": "Keep synchronous",
    "review": "Review",
    "deferred": "Already deferred",
}


def _value(obj: object) -> str:
    return str(getattr(obj, "value", obj))


def kind_label(kind: object) -> str:
    return KIND_LABELS.get(_value(kind), _value(kind))


def category_label(category: object) -> str:
    return CATEGORY_LABELS.get(_value(category), _value(category).replace("_", " ").capitalize())


def category_noun(category: object) -> str:
    return CATEGORY_NOUNS.get(_value(category), _value(category).replace("_", " "))


def disposition_label(disposition: object) -> str:
    return DISPOSITION_LABELS.get(_value(disposition), _value(disposition))


def _finite(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def fmt_ms(value: float | None) -> str:
    """A duration in milliseconds, in the unit a person would say: ``380 ms``, ``4.2 s``, ``2.5 min``."""
    if not _finite(value):
        return "–"
    assert value is not None
    magnitude = abs(value)
    if magnitude < 10:
        return f"{value:.1f} ms"
    if magnitude < 1_000:
        return f"{value:.0f} ms"
    if magnitude < 60_000:
        seconds = value / 1_000
        return f"{seconds:.1f} s" if abs(seconds) < 10 else f"{seconds:.0f} s"
    return f"{value / 60_000:.1f} min"


def fmt_seconds(value: float | None) -> str:
    """A duration given in seconds (worker-seconds, a recording window)."""
    if not _finite(value):
        return "–"
    assert value is not None
    if abs(value) < 120:
        return fmt_ms(value * 1_000)
    if abs(value) < 7_200:
        return f"{value / 60:.0f} min"
    if abs(value) < 172_800:
        return f"{value / 3_600:.1f} h"
    return f"{value / 86_400:.1f} days"


def fmt_pct(value: float | None) -> str:
    """A share between 0 and 1 as a percentage."""
    if not _finite(value):
        return "–"
    assert value is not None
    percent = value * 100
    if percent == 0:
        return "0%"
    if abs(percent) < 1:
        return f"{percent:.1f}%"
    return f"{percent:.0f}%"


def fmt_int(value: float | None) -> str:
    if not _finite(value):
        return "–"
    assert value is not None
    return f"{round(value):,}"


def plural(count: float | None, singular: str, many: str) -> str:
    """``1 call was`` / ``3 calls were``."""
    return f"{fmt_int(count)} {singular if count == 1 else many}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    if not _finite(value):
        return "–"
    assert value is not None
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_ts(value: float | None) -> str:
    """A Unix timestamp as a UTC date and time."""
    if not _finite(value):
        return "–"
    assert value is not None
    try:
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):  # beyond the year 9999 or the platform's time_t
        return "–"


def fmt_iso(value: str) -> str:
    """An ISO 8601 timestamp (``Report.generated_at``) as a readable UTC date and time."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def evidence_items(evidence: dict[str, object]) -> list[tuple[str, str]]:
    """A finding's extra figures as (label, text), sorted: ``total_savings_ms`` reads "Total savings 37 s"."""
    items = []
    for key in sorted(evidence):
        value = evidence[key]
        label = key.removesuffix("_ms").replace("_", " ").strip().capitalize() or key
        items.append((label, _evidence_text(key, value)))
    return items


def _evidence_text(key: str, value: object) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "–"}[value]
    if isinstance(value, (int, float)):
        if key.endswith("_ms"):
            return fmt_ms(value)
        if key.endswith(("_rate", "_share")) or key.startswith("share"):
            return fmt_pct(value)
        return fmt_int(value) if float(value).is_integer() else fmt_num(value, 2)
    if isinstance(value, (list, tuple)):
        return ", ".join(_evidence_text("", v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_evidence_text(str(k), v)}" for k, v in value.items())
    return one_line(value)


def endpoint_label(method: str | None, route: str | None) -> str:
    """``POST accounts/signup/``; a request that resolved to no route reads ``(no route)``."""
    return f"{method or ''} {route if route is not None else '(no route)'}".strip()


def site_label(file: str | None, line: int | None, function: str | None = None) -> str:
    if not file:
        return function or "(unknown location)"
    where = f"{file}:{line}" if line else file
    return f"{where} ({function})" if function else where


def one_line(text: object, limit: int | None = None) -> str:
    """Recorded text on one line: control characters (newlines included) become spaces."""
    flat = re.sub(r"[\x00-\x1f\x7f\u2028\u2029]+", " ", str(text)).strip()
    if limit is not None and len(flat) > limit:
        return flat[: max(limit - 1, 1)] + "…"
    return flat


# Markdown ------------------------------------------------------------------------------------------------

# Characters that open or close Markdown constructs anywhere in a line (emphasis, links, images, code spans,
# table cells, strike-through). "<", ">" and "&" become entities, so no HTML gets through either.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|~])")
# What makes a heading, a list item or a setext underline when a value starts a line ("1." needs "1\.").
_MD_LINE_START = re.compile(r"^(?:[-+#=]|\d+(?=[.)]))")


def md_escape(text: object) -> str:
    """Recorded text as literal GitHub-flavoured Markdown text, safe in a paragraph or a table cell."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return str(text)  # digits, a point and a sign are plain text where a value can stand
    flat = one_line(text)
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _MD_SPECIAL.sub(r"\\\1", flat)
    return _MD_LINE_START.sub(_escape_line_start, flat)


def _escape_line_start(match: re.Match[str]) -> str:
    token = match.group(0)
    return f"{token}\\" if token.isdigit() else f"\\{token}"


def md_fence(code: str, lang: str = "") -> str:
    """A fenced code block whose fence no line of ``code`` can close."""
    longest = max((len(run) for run in re.findall(r"`+|~+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    body = code if code.endswith("\n") else code + "\n"
    return f"{fence}{lang}\n{body}{fence}"


# CSV -----------------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell a spreadsheet will not evaluate: text starting like a formula gets a leading apostrophe.

    Numbers stay numbers (a negative number is not a formula); every other value is text.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value if _finite(value) else ""
    # Python before 3.11 cannot write a NUL in a CSV field ("need to escape"), and no spreadsheet shows one.
    text = str(getattr(value, "value", value)).replace("\x00", "")
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text
