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


def test_first_rows_and_numbered_keys() -> None:
    keys = np.array([7, 3, 7, 9, 3, 3, 1], dtype=np.int64)
    ids = _groups.number_keys(keys)
    assert ids.tolist() == [0, 1, 0, 2, 1, 1, 3]
    assert _groups.first_rows(ids).tolist() == [0, 1, 3, 6]
    assert _groups.first_rows(np.zeros(0, dtype=np.int64)).tolist() == []


@pytest.mark.parametrize("shuffled", [False, True])
def test_number_pairs_numbers_pairs_as_a_groupby_does(shuffled: bool) -> None:
    rng = np.random.default_rng(3)
    outer = np.sort(rng.integers(0, 300, 2000))
    if shuffled:
        rng.shuffle(outer)
    inner = rng.integers(0, 5, 2000)
    frame = pd.DataFrame({"outer": outer, "inner": inner})
    want = frame.groupby(["outer", "inner"], sort=False).ngroup().to_numpy()
    assert _groups.number_pairs(outer, inner, 5).tolist() == want.tolist()
    assert _groups.number_pairs(outer[:0], inner[:0], 5).tolist() == []


def test_by_numbers_gives_what_groupby_gives_to_the_last_bit() -> None:
    rng = np.random.default_rng(5)
    ids = _groups.number_keys(rng.integers(0, 50, 5000))
    values = pd.Series(rng.lognormal(3.0, 2.0, 5000))
    count = int(ids.max()) + 1
    for reduce in ("sum", "mean", "max"):
        got = getattr(_groups.by_numbers(values, ids, count), reduce)().to_numpy()
        want = getattr(values.groupby(ids, sort=True), reduce)().to_numpy()
        assert got.tobytes() == want.tobytes(), reduce
    got_q = _groups.by_numbers(values, ids, count).quantile(0.95).to_numpy()
    assert got_q.tobytes() == values.groupby(ids, sort=True).quantile(0.95).to_numpy().tobytes()
