"""Group numbers of rows by several columns, as ``groupby(keys, observed=True, dropna=False, sort=False)
.ngroup()`` numbers them (in order of first appearance, a missing value a group of its own), computed on the
columns' codes: pandas' groupby over many categorical keys spends most of its time preparing them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["group_ids"]

_SPAN_LIMIT = 1 << 62  # combined keys stay below this: int64 never overflows


def _codes(column: pd.Series) -> tuple[np.ndarray, int]:
    """Codes from 0 (missing) up, and how many distinct codes there can be."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy().astype(np.int64) + 1, len(column.cat.categories) + 1
    codes, uniques = pd.factorize(column.to_numpy(), use_na_sentinel=True)
    return codes.astype(np.int64) + 1, len(uniques) + 1


def group_ids(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """The group number of each row of ``frame`` by ``keys``, groups numbered in order of first appearance."""
    combined = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for key in keys:
        codes, size = _codes(frame[key])
        if span * size >= _SPAN_LIMIT:
            combined, uniques = pd.factorize(combined)
            combined = combined.astype(np.int64)
            span = max(len(uniques), 1)
        combined = combined * size + codes
        span *= size
    ids, _ = pd.factorize(combined)
    return ids.astype(np.int64)
