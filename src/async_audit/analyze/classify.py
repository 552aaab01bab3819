"""Classification of recorded calls: rules per distinct call, the call site's source, and nesting.

Each step takes the calls frame and returns it with more columns (``DataFrame.pipe``):
``category``, ``disposition``, ``reason``, ``rule`` (from the rules), ``decided_by`` (how interactivity was
decided), ``top`` (the top-level call a nested call belongs to) and ``deferrable`` (a top-level call whose
time the request gets back when it moves to a task).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from async_audit.analyze._groups import code_dtype, first_rows, group_ids
from async_audit.analyze.model import CallSite, Category, Disposition
from async_audit.rules import CallFacts, RuleSet

__all__ = ["classify_calls", "mark_deferrable", "resolve_nesting", "source_interactivity"]

FACT_COLUMNS = ["kind", "lib", "via", "host", "method", "path", "backend", "task", "name"]

# Categories whose disposition the call site's data flow may change: revenue and committed rows stay, tasks
# are already deferred, whatever the code does with the value.
_FLOW_DECIDES = {
    Category.EMAIL.value,
    Category.NOTIFICATION.value,
    Category.API_WRITE.value,
    Category.API_READ.value,
    Category.SEARCH_INDEX.value,
    Category.SEARCH_QUERY.value,
    Category.STORAGE.value,
    Category.COMPUTE.value,
    Category.OTHER.value,
}

Reaches = Callable[[Path, CallSite], "bool | None"]


def _value(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and v != v) else str(v)


def classify_calls(calls: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Add ``category``, ``disposition``, ``reason`` and ``rule``: the rules run once per distinct call."""
    calls = calls.copy(deep=False)  # new columns only: the caller's frame stays as it was
    if calls.empty:
        for col in ("category", "disposition", "reason", "rule"):
            calls[col] = pd.Categorical([])
        return calls
    group = group_ids(calls, FACT_COLUMNS)
    facts = calls[FACT_COLUMNS].iloc[first_rows(group)]
    decided = [
        rules.classify(CallFacts(**{col: _value(row[n]) for n, col in enumerate(FACT_COLUMNS)}))  # type: ignore[arg-type]
        for row in facts.itertuples(index=False, name=None)
    ]
    for col, values in (
        ("category", [d.category.value for d in decided]),
        ("disposition", [d.disposition.value for d in decided]),
        ("reason", [d.reason for d in decided]),
        ("rule", [d.rule for d in decided]),
    ):
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        # codes in the type pandas keeps them in before the take: one small array, not a copy of millions
        codes = codes.astype(code_dtype(len(uniques)))
        calls[col] = pd.Categorical.from_codes(codes[group], categories=pd.Index(uniques, dtype=object))
    calls["decided_by"] = pd.Categorical.from_codes(
        np.zeros(len(calls), dtype=np.int8), categories=pd.Index(["method and category"], dtype=object)
    )
    return calls


def _reaches_function() -> Reaches | None:
    try:
        module = importlib.import_module("async_audit.scan.dataflow")
    except ImportError:
        return None
    found = getattr(module, "result_reaches_response", None)
    return found if callable(found) else None


def source_interactivity(
    calls: pd.DataFrame, source_root: Path | None, reaches: Reaches | None = None
) -> pd.DataFrame:
    """With the project's source, let the call site decide: a value that never reaches the response defers.

    ``reaches`` defaults to ``async_audit.scan.dataflow.result_reaches_response``; without source (or
    without that function) the rules' method-and-category decision stands and ``decided_by`` says so.
    """
    if source_root is None or calls.empty:
        return calls
    reaches = reaches or _reaches_function()
    if reaches is None:
        return calls
    calls = calls.copy(deep=False)  # new columns only: the caller's frame stays as it was
    candidates = calls["category"].isin(_FLOW_DECIDES).to_numpy(copy=True)
    candidates &= (calls["site_line"] >= 0).to_numpy() & calls["site_file"].notna().to_numpy()
    site_columns = ["site_file", "site_line", "site_function"]
    # One question per distinct call site, not per call.
    group = group_ids(calls, site_columns)
    first = pd.Series(np.arange(len(calls))).groupby(group).first()
    answers: list[bool | None] = []
    for file, line, function in calls[site_columns].iloc[first.to_numpy()].itertuples(index=False, name=None):
        answer = None
        if isinstance(file, str) and line >= 0:
            site = CallSite(file, int(line), function if isinstance(function, str) else None)
            try:
                answer = reaches(source_root, site)
            except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
                answer = None  # an unreadable file decides nothing
        answers.append(answer)
    by_group = dict(zip(first.index, answers, strict=True))
    verdict = np.asarray([by_group.get(g) for g in range(int(group.max()) + 1)] + [None], dtype=object)[group]
    verdict[~candidates] = None
    uses = np.fromiter((v is True for v in verdict), dtype=bool, count=len(verdict))
    unused = np.fromiter((v is False for v in verdict), dtype=bool, count=len(verdict))
    disposition = calls["disposition"].astype(object).to_numpy(copy=True)
    reason = calls["reason"].astype(object).to_numpy(copy=True)
    decided = np.full(len(calls), "method and category", dtype=object)
    disposition[uses] = Disposition.KEEP_SYNC.value
    disposition[unused] = Disposition.DEFER.value
    decided[uses | unused] = "source"
    reason[uses] = "The response uses this call's result (the call site's code shows it); keep synchronous."
    reason[unused] = (
        "The call site's code never uses the result in the response (a bare statement or a value only "
        "logged); it can run in a background task."
    )
    calls["disposition"] = pd.Categorical(disposition)
    calls["reason"] = pd.Categorical(reason)
    calls["decided_by"] = pd.Categorical(decided)
    return calls


def resolve_nesting(calls: pd.DataFrame) -> pd.DataFrame:
    """Add ``top``: the row of the top-level call each call belongs to (itself when top-level).

    A top-level call with a payment inside it (an API client that charges a card) is kept synchronous.
    """
    calls = calls.copy(deep=False)  # new columns only: the caller's frame stays as it was
    n = len(calls)
    rows = np.arange(n, dtype=np.int64)
    parent = calls["parent"].to_numpy()
    # Calls are stored in request order, so the parent's row is this row minus the difference in positions.
    parent_row = np.where(parent >= 0, rows - (calls["idx"].to_numpy() - parent), -1)
    top = rows.copy()
    current = parent_row.copy()
    for _ in range(64):  # nesting depth; the loader guarantees parents come first, so this ends
        has = current >= 0
        if not has.any():
            break
        top[has] = current[has]
        current = np.where(has, parent_row[np.maximum(current, 0)], -1)
    calls["top"] = top
    calls["depth"] = _depth(parent_row)
    if n and (parent >= 0).any():
        payment = (calls["category"] == Category.PAYMENT.value).to_numpy() & (parent >= 0)
        if payment.any():
            tops = np.unique(top[payment])
            disposition = calls["disposition"].astype(object).to_numpy(copy=True)
            reason = calls["reason"].astype(object).to_numpy(copy=True)
            movable = np.isin(disposition[tops], [Disposition.DEFER.value, Disposition.REVIEW.value])
            tops = tops[movable]
            disposition[tops] = Disposition.KEEP_SYNC.value
            reason[tops] = "A payment runs inside this call (revenue-critical); keep synchronous."
            calls["disposition"] = pd.Categorical(disposition)
            calls["reason"] = pd.Categorical(reason)
    return calls


def _depth(parent_row: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(parent_row), dtype=np.int64)
    current = parent_row.copy()
    for _ in range(64):
        has = current >= 0
        if not has.any():
            break
        depth[has] += 1
        current = np.where(has, parent_row[np.maximum(current, 0)], -1)
    return depth


def mark_deferrable(calls: pd.DataFrame) -> pd.DataFrame:
    """Add ``deferrable``: top-level calls to defer, and enqueues whose backend runs the work inline."""
    calls = calls.copy(deep=False)  # new columns only: the caller's frame stays as it was
    top_level = (calls["parent"] < 0).to_numpy()
    defer = (calls["disposition"] == Disposition.DEFER.value).to_numpy()
    fake = calls["inline"].to_numpy() & (calls["kind"] == "task").to_numpy()
    calls["deferrable"] = top_level & (defer | fake)
    return calls
