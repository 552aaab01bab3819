"""Group numbers of rows by several columns, as ``groupby(keys, observed=True, dropna=False, sort=False)
.ngroup()`` numbers them (in order of first appearance, a missing value a group of its own), computed on the
columns' codes: pandas' groupby over many categorical keys spends most of its time preparing them.

The helpers below work on such numbers (or any integer keys) with numpy, so an analysis step can group
millions of rows without pandas building a grouper for each question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "by_numbers",
    "code_dtype",
    "column_codes",
    "first_rows",
    "group_ids",
    "number_keys",
    "number_pairs",
]

_SPAN_LIMIT = 1 << 62  # combined keys stay below this: int64 never overflows


def code_dtype(categories: int) -> type[np.signedinteger[Any]]:
    """The integer type pandas keeps a categorical's codes in, so that ``Categorical.from_codes`` copies
    nothing (the smallest that holds the number of categories)."""
    for dtype in (np.int8, np.int16, np.int32):
        if categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def column_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """A column as codes (-1: missing) and the values they stand for: a categorical's own, else factorized."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories
    codes, uniques = pd.factorize(column.to_numpy(), use_na_sentinel=True)
    return codes, pd.Index(uniques)


def group_ids(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """The group number of each row of ``frame`` by ``keys``, groups numbered in order of first appearance."""
    combined = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for key in keys:
        codes, values = column_codes(frame[key])
        size = len(values) + 1  # the missing value is a group of its own
        if span * size >= _SPAN_LIMIT:
            combined, uniques = pd.factorize(combined)
            combined = combined.astype(np.int64)
            span = max(len(uniques), 1)
        # in place: combined * size + codes + 1, without a temporary array per step
        combined *= size
        combined += codes
        combined += 1
        span *= size
    return number_keys(combined)


def number_keys(keys: np.ndarray) -> np.ndarray:
    """Integer keys numbered 0, 1, ... in order of first appearance (int64)."""
    ids, _ = pd.factorize(keys)
    return ids.astype(np.int64, copy=False)


def first_rows(ids: np.ndarray) -> np.ndarray:
    """For numbers given in order of first appearance (``group_ids``), the row where each first appears."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    # A number appears for the first time exactly where the running maximum grows.
    running = np.maximum.accumulate(ids)
    starts = np.empty(len(ids), dtype=bool)
    starts[0] = True
    np.not_equal(running[1:], running[:-1], out=starts[1:])
    return np.flatnonzero(starts)


def number_pairs(outer: np.ndarray, inner: np.ndarray, inner_size: int) -> np.ndarray:
    """Numbers of distinct (outer, inner) pairs in order of first appearance, as ``number_keys`` gives them.

    By sorting, not hashing: with ``outer`` nearly sorted (calls by request), the stable sorts below cost a
    tenth of a hash table over millions of mostly distinct pairs.
    """
    n = len(outer)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    keys = outer.astype(np.int64) * inner_size + inner
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    run = np.cumsum(starts) - 1  # run of each sorted row; a run is one pair
    firsts = order[starts]  # a run's first row (the sort is stable)
    rank = np.empty(len(firsts), dtype=np.int64)
    rank[np.argsort(firsts, kind="stable")] = np.arange(len(firsts))
    ids = np.empty(n, dtype=np.int64)
    ids[order] = rank[run]
    return ids


def by_numbers(values: pd.DataFrame | pd.Series, ids: np.ndarray, count: int) -> Any:
    """``values.groupby(ids, sort=True)`` for numbers 0 to ``count - 1`` that all occur: the same groups, and
    the same figures to the last bit (pandas runs the same reductions over the same numbers), without pandas
    hashing millions of numbers it is given ready-made (they go in as a categorical's codes)."""
    key = pd.CategoricalIndex(pd.Categorical.from_codes(ids, categories=pd.RangeIndex(count)))
    return values.groupby(key, observed=False, sort=True)
