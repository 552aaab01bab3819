"""Re-timing requests: how much of each request its top-level calls cover, and what is left without them.

Calls can overlap (``asyncio.gather`` under ASGI, threads), so durations are never simply added: a sweep
over each request's top-level calls, in start order and clipped to the request, credits every millisecond
to the first call that covers it. That makes every total at most the request's wall time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["exclusive_time", "retime"]


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Mask of the rows where a run of equal adjacent keys starts."""
    new = np.empty(len(keys), dtype=bool)
    if len(keys):
        new[0] = True
        np.not_equal(keys[1:], keys[:-1], out=new[1:])
    return new


def _running_max(keys: np.ndarray, values: np.ndarray, new: np.ndarray | None = None) -> np.ndarray:
    """The running maximum of ``values`` within each run of equal ``keys`` (runs are adjacent; ``new`` marks
    where runs start, when the caller has it).

    Exact, and without a groupby: round k takes the k-th row of every run at least k + 1 rows long, so the
    rounds are as many as the longest run has rows (a request's calls) and the work is one step per row.
    """
    n = len(keys)
    out: np.ndarray = values.copy()
    if n < 2:
        return out
    starts = np.flatnonzero(_run_starts(keys) if new is None else new)
    lengths = np.diff(np.append(starts, n))
    longest = int(lengths.max())
    if longest == 1:
        return out
    # longest runs first (a stable sort of small integers is a radix sort)
    small = np.int16 if longest < np.iinfo(np.int16).max else np.int64
    by_length = np.argsort((longest - lengths).astype(small), kind="stable")
    starts, lengths = starts[by_length], lengths[by_length]
    longer = np.searchsorted(-lengths, -np.arange(1, longest), side="left")  # runs longer than k
    for k, runs in enumerate(longer.tolist(), start=1):
        rows = starts[:runs] + k
        out[rows] = np.maximum(out[rows - 1], values[rows])
    return out


def _sweep(req: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """For each interval, the time it covers that no earlier-starting interval of its request covers."""
    if len(req) == 0:
        empty: np.ndarray = np.zeros(0)
        return empty
    # Records keep calls in start order, so the sort is usually already done: check in one pass first.
    in_order = bool(np.all((req[1:] > req[:-1]) | ((req[1:] == req[:-1]) & (start[1:] >= start[:-1]))))
    order = None if in_order else np.lexsort((start, req))
    r, s, e = (req, start, end) if order is None else (req[order], start[order], end[order])
    new = _run_starts(r)
    reach = _running_max(r, e, new)
    previous = np.empty_like(reach)
    previous[0] = -np.inf
    previous[1:] = reach[:-1]
    previous[new] = -np.inf
    gained: np.ndarray = np.maximum(0.0, e - np.maximum(s, previous))
    if order is None:
        return gained
    out: np.ndarray = np.empty_like(gained)
    out[order] = gained
    return out


def _clipped(
    calls: pd.DataFrame, rows: np.ndarray, request_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Request, start and end of the calls at ``rows`` (a mask), clipped to their request."""
    every = bool(rows.all())  # often every call is top-level: no copies then
    req, t, ms = (
        calls[key].to_numpy() if every else calls[key].to_numpy()[rows] for key in ("req", "t", "ms")
    )
    limit = request_ms[req]
    start = np.clip(t, 0.0, limit)
    end = np.clip(t + ms, start, limit)
    return req, start, end


def exclusive_time(calls: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """Add ``excl_ms``: the request time a top-level call alone accounts for (0 for nested calls)."""
    calls = calls.copy(deep=False)  # new columns only: the caller's frame stays as it was
    top = (calls["parent"] < 0).to_numpy()
    excl = np.zeros(len(calls))
    req, start, end = _clipped(calls, top, requests["ms"].to_numpy())
    excl[top] = _sweep(req, start, end)
    calls["excl_ms"] = excl
    return calls


def retime(requests: pd.DataFrame, calls: pd.DataFrame) -> pd.DataFrame:
    """Add ``covered_ms``, ``deferrable_ms`` and ``projected_ms`` to each request.

    ``deferrable_ms`` is the time only deferrable top-level calls cover; ``projected_ms`` the request's
    wall time without it. Needs the calls' ``excl_ms`` and ``deferrable`` columns.
    """
    requests = requests.copy(deep=False)  # new columns only
    n = len(requests)
    top = (calls["parent"] < 0).to_numpy()
    req = calls["req"].to_numpy()
    covered = np.bincount(req[top], weights=calls["excl_ms"].to_numpy()[top], minlength=n)
    kept = top & ~calls["deferrable"].to_numpy()
    kreq, start, end = _clipped(calls, kept, requests["ms"].to_numpy())
    covered_kept = np.bincount(kreq, weights=_sweep(kreq, start, end), minlength=n)
    saving = np.maximum(0.0, covered - covered_kept)
    requests["covered_ms"] = covered
    requests["deferrable_ms"] = saving
    requests["projected_ms"] = np.maximum(0.0, requests["ms"].to_numpy() - saving)
    return requests
