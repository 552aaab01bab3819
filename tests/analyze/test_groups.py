from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from async_audit.analyze import _groups
from async_audit.analyze._groups import group_ids


def _frame(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    names = np.array(["a", "b", "c", None], dtype=object)
    return pd.DataFrame(
        {
            "cat": pd.Categorical(names[rng.integers(0, 4, n)], categories=["c", "b", "a", "unused"]),
            "other": pd.Categorical(names[rng.integers(0, 4, n)]),
            "line": rng.integers(-1, 3, n),
            "flag": rng.integers(0, 2, n).astype(bool),
            "plain": pd.Series(names[rng.integers(0, 4, n)], dtype=object),
        }
    )


@pytest.mark.parametrize("limit", [1 << 62, 8])  # 8: the combined key is compressed on the way
def test_group_ids_number_groups_as_groupby_ngroup_does(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setattr(_groups, "_SPAN_LIMIT", limit)
    frame = _frame()
    keys = list(frame.columns)
    want = frame.groupby(keys, observed=True, dropna=False, sort=False).ngroup().to_numpy()
    assert group_ids(frame, keys).tolist() == want.tolist()
    assert (
        group_ids(frame, ["cat"]).tolist()
        == frame.groupby("cat", observed=True, dropna=False, sort=False).ngroup().tolist()
    )


def test_no_rows() -> None:
    assert group_ids(_frame().iloc[:0], ["cat", "line"]).tolist() == []
