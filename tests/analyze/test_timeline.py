"""The sweep's running maximum per request matches pandas' groupby cummax exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from async_audit.analyze import timeline


@pytest.mark.parametrize("longest", [1, 2, 7, 300])
def test_running_max_per_run(longest: int) -> None:
    rng = np.random.default_rng(longest)
    lengths = rng.integers(1, longest + 1, 400)
    keys = np.repeat(np.arange(len(lengths)), lengths)
    values = rng.lognormal(2.0, 1.5, len(keys))
    want = pd.Series(values).groupby(keys, sort=False).cummax().to_numpy()
    assert timeline._running_max(keys, values).tolist() == want.tolist()


def test_running_max_of_nothing_and_of_one() -> None:
    assert timeline._running_max(np.zeros(0, dtype=np.int64), np.zeros(0)).tolist() == []
    assert timeline._running_max(np.zeros(1, dtype=np.int64), np.ones(1)).tolist() == [1.0]
