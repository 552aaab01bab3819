"""From classified, re-timed frames to the report's objects: endpoints, findings, capacity, examples.

Percentiles use linear interpolation between the closest ranks (numpy's default), so every figure can be
recomputed by hand from the records.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

import numpy as np
import pandas as pd

from async_audit.analyze._groups import (
    by_numbers,
    column_codes,
    first_rows,
    group_ids,
    number_keys,
    number_pairs,
)
from async_audit.analyze.load import Recordings
from async_audit.analyze.model import (
    Budgets,
    CallSite,
    Capacity,
    Category,
    Disposition,
    ExampleRequest,
    Finding,
    FindingKind,
    Severity,
    WaterfallCall,
)

__all__ = ["call_groups", "capacity", "endpoint_stats", "examples", "findings", "prioritise"]

ENDPOINT_KEYS = ["method", "route"]
GROUP_KEYS = [
    "method",
    "route",
    "top_level",
    "site_file",
    "site_line",
    "site_function",
    "kind",
    "category",
    "disposition",
    "rule",
    "host",
    "backend",
    "task",
    "name",
    "sql",
]
_TARGET = {"http": "host", "email": "backend", "task": "task", "block": "name", "sql": "sql"}
# A keep_sync call worth reporting: slow at p95, or a large share of its request.
KEEP_SYNC_MIN_P95_MS = 100.0
KEEP_SYNC_MIN_SHARE = 0.10
# An endpoint "nears" the platform budget when its p99 (or slowest request) passes this share of it.
TIMEOUT_RISK_SHARE = 0.5
# Calls per request at which repeating the same call is worth one task or one bulk request.
BATCH_MIN_CALLS_PER_REQUEST = 2.0
EXAMPLES = 5


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts keyed by column name, values as Python objects (what ``to_dict("records")`` gives, in a
    fraction of its time: one ``tolist`` per column instead of a boxing pass per value)."""
    names = list(frame.columns)
    if not names:
        return [{} for _ in range(len(frame))]
    columns = [frame.iloc[:, n].tolist() for n in range(len(names))]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _str(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _quantiles(grouped: Any, column: str, index: pd.Index) -> np.ndarray:
    q = grouped[column].quantile([0.5, 0.95, 0.99]).unstack().reindex(index)
    values: np.ndarray = q.to_numpy(dtype=np.float64)
    return values


def endpoint_stats(requests: pd.DataFrame, calls: pd.DataFrame, budgets: Budgets) -> pd.DataFrame:
    """One row per (method, route): counts, percentiles, budgets, deferrable time and projections."""
    eid = group_ids(requests, ENDPOINT_KEYS)
    unfinished = requests["status"].to_numpy() == 0
    frame = pd.DataFrame(
        {
            "eid": eid,
            "ms": requests["ms"].to_numpy(),
            # Status 0: a request that never finished (imported from silk), taken to have hit the budget.
            "over_budget": (requests["ms"].to_numpy() > budgets.platform_ms) | unfinished,
            "over_user_budget": (requests["ms"].to_numpy() > budgets.user_ms) | unfinished,
            "error": requests["status"].to_numpy() >= 500,
            "deferrable_ms": requests["deferrable_ms"].to_numpy(),
            "projected_ms": requests["projected_ms"].to_numpy(),
        }
    )
    grouped = frame.groupby("eid", sort=True)
    stats = grouped.agg(
        count=("ms", "size"),
        mean_ms=("ms", "mean"),
        total_ms=("ms", "sum"),
        max_ms=("ms", "max"),
        over_budget=("over_budget", "sum"),
        over_user_budget=("over_user_budget", "sum"),
        error_count=("error", "sum"),
        deferrable_total_ms=("deferrable_ms", "sum"),
    )
    first = first_rows(eid)  # stats are indexed by eid: 0, 1, ...
    stats["method"] = requests["method"].astype(object).to_numpy()[first]
    stats["route"] = requests["route"].astype(object).to_numpy()[first]
    stats["view"] = _modes(requests["view"], eid, stats.index)
    stats[["p50_ms", "p95_ms", "p99_ms"]] = _quantiles(grouped, "ms", stats.index)
    stats[["deferrable_ms_p50", "deferrable_ms_p95", "deferrable_ms_p99"]] = _quantiles(
        grouped, "deferrable_ms", stats.index
    )
    stats[["projected_p50_ms", "projected_p95_ms", "projected_p99_ms"]] = _quantiles(
        grouped, "projected_ms", stats.index
    )
    stats["time_by_category"] = pd.Series(
        _time_by_category(eid, calls, stats), index=stats.index, dtype=object
    )
    stats["example_row"] = _example_rows(requests, eid, stats)
    stats = stats.set_index(["method", "route"])
    ordered: pd.DataFrame = stats.sort_values("total_ms", ascending=False, kind="stable")
    return ordered


def _modes(values: pd.Series, eid: np.ndarray, index: pd.Index) -> list[str | None]:
    """The most frequent non-null value per endpoint (views of one route are nearly always one); of equally
    frequent values, the first in sort order."""
    codes, names = column_codes(values)
    known = codes >= 0
    if not known.any():
        return [None] * len(index)
    size = len(names)
    keys, counts = np.unique(eid[known] * size + codes[known], return_counts=True)
    found: dict[int, tuple[int, Any]] = {}
    for key, n in zip(keys.tolist(), counts.tolist(), strict=True):
        e, code = divmod(key, size)
        value = names[code]
        best = found.get(e)
        if best is None or n > best[0] or (n == best[0] and value < best[1]):
            found[e] = (n, value)
    return [_str(found[e][1]) if e in found else None for e in index]


def _time_by_category(eid: np.ndarray, calls: pd.DataFrame, stats: pd.DataFrame) -> list[dict[str, float]]:
    top = (calls["parent"] < 0).to_numpy()
    codes, names = column_codes(calls["category"])
    known = top & (codes >= 0)
    if not known.any():
        return [{} for _ in range(len(stats))]
    size = len(names)
    keys = eid[calls["req"].to_numpy()[known]] * size + codes[known]
    # (endpoint, category) pairs in order of first appearance; each sum compensated, in row order
    pairs = number_keys(keys)
    sums = pd.Series(calls["excl_ms"].to_numpy()[known]).groupby(pairs, sort=True).sum()
    table: dict[int, dict[str, float]] = {}
    for key, total in zip(keys[first_rows(pairs)].tolist(), sums.tolist(), strict=True):
        e, code = divmod(key, size)
        table.setdefault(e, {})[str(names[code])] = float(total)
    out = []
    for e, count in zip(stats.index, stats["count"], strict=True):
        totals = table.get(int(e), {})
        ranked = sorted(totals.items(), key=lambda kv: -kv[1])
        out.append({cat: total / count for cat, total in ranked if total > 0})
    return out


def _example_rows(requests: pd.DataFrame, eid: np.ndarray, stats: pd.DataFrame) -> list[int]:
    """Per endpoint, the request closest to its p95 from above: slow, but not a one-off outlier."""
    p95 = stats["p95_ms"].reindex(eid).to_numpy()
    ms = requests["ms"].to_numpy()
    rows = np.flatnonzero(ms >= p95 - 1e-9)
    frame = pd.DataFrame({"eid": eid[rows], "ms": ms[rows], "row": rows})
    picked = frame.sort_values(["ms", "row"]).drop_duplicates("eid")
    found = dict(zip(picked["eid"], picked["row"], strict=True))
    return [int(found.get(e, -1)) for e in stats.index]


def _take(column: pd.Series, rows: np.ndarray) -> pd.Categorical:
    """A categorical column's values at ``rows``, taken by code (no strings materialised)."""
    return pd.Categorical.from_codes(column.cat.codes.to_numpy()[rows], categories=column.cat.categories)


def _values_at(column: pd.Series, rows: np.ndarray) -> list[Any]:
    """A column's values at ``rows`` as Python objects (NaN where a categorical value is missing)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return cast(list[Any], _take(column, rows).tolist())
    return cast(list[Any], column.to_numpy()[rows].tolist())


def call_groups(calls: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """Calls grouped by endpoint, call site, kind, classification and target, with their statistics.

    One row per group, in order of the group's first call. Group numbers come from the columns' codes and
    every statistic from numpy over them; pandas is asked only for sums, means and the quantile, so every
    figure is computed exactly as a pandas groupby computes it (compensated sums, linear interpolation).
    """
    if calls.empty:
        empty: pd.DataFrame = pd.DataFrame()
        return empty
    req = calls["req"].to_numpy()
    keys = pd.DataFrame(
        {
            "method": _take(requests["method"], req),
            "route": _take(requests["route"], req),
            "top_level": (calls["parent"] < 0).to_numpy(),
            **{key: calls[key] for key in GROUP_KEYS[3:]},
        },
        copy=False,
    )
    gid = group_ids(keys, GROUP_KEYS)
    first = first_rows(gid)
    ngroups = len(first)

    ms = calls["ms"].to_numpy()
    excl = calls["excl_ms"].to_numpy()
    inline = calls["inline"].to_numpy()

    # (group, request) pairs, numbered in order of first appearance. The sums below see the same values in
    # the same order with the same group numbers as a pandas groupby by (group, request) would, so they are
    # the same to the last bit (pandas picks its summation by whether the numbers are sorted).
    pair = number_pairs(req, gid, ngroups)
    pair_first = first_rows(pair)
    per_pair = np.bincount(pair)
    pair_ms = by_numbers(pd.Series(ms), pair, len(pair_first)).sum().to_numpy()
    request_ms = requests["ms"].to_numpy()[req[pair_first]]
    with np.errstate(all="ignore"):  # a call far longer than a near-zero request: the share is 1
        share = np.where(
            request_ms > 0, np.minimum(1.0, pair_ms / np.where(request_ms > 0, request_ms, 1.0)), 1.0
        )
    pair_gid = gid[pair_first]
    max_per_request = np.zeros(ngroups, dtype=np.int64)
    np.maximum.at(max_per_request, pair_gid, per_pair)

    by = by_numbers(
        pd.DataFrame({"ms": ms, "excl_ms": excl, "inline_excl": np.where(inline, excl, 0.0)}, copy=False),
        gid,
        ngroups,
    )
    count = np.bincount(gid, minlength=ngroups)
    requests_per_group = np.bincount(pair_gid, minlength=ngroups)
    no_timeout = (calls["kind"] == "http").to_numpy() & calls["timeout"].isna().to_numpy()
    groups: pd.DataFrame = pd.DataFrame(
        {
            "count": count,
            "requests": requests_per_group,
            "mean_ms": by["ms"].mean().to_numpy(),
            "max_ms": by["ms"].max().to_numpy(),
            "excl_total_ms": by["excl_ms"].sum().to_numpy(),
            "inline_total_ms": by["inline_excl"].sum().to_numpy(),
            "inline_count": np.bincount(gid[inline], minlength=ngroups),
            "errors": np.bincount(gid[calls["error"].notna().to_numpy()], minlength=ngroups),
            "no_timeout": np.bincount(gid[no_timeout], minlength=ngroups),
            "atomic": np.bincount(gid[calls["atomic"].to_numpy()], minlength=ngroups) > 0,
            "p95_ms": by["ms"].quantile(0.95).to_numpy(),
        }
    )
    groups.index.name = "gid"
    for key in GROUP_KEYS:
        groups[key] = _values_at(keys[key], first)
    groups["view"] = _values_at(requests["view"], req[first])
    groups["target"] = [
        row[_TARGET[str(kind)]] if str(kind) in _TARGET else None
        for kind, row in zip(groups["kind"], records(groups[list(_TARGET.values())]), strict=True)
    ]
    # the request of the group's longest call (the first of equals)
    groups["example_row"] = req[by["ms"].idxmax().to_numpy()]
    groups["first_row"] = first
    groups["share"] = by_numbers(pd.Series(share), pair_gid, ngroups).mean().to_numpy()
    groups["max_per_request"] = max_per_request
    groups["repeated_requests"] = np.bincount(pair_gid[per_pair >= 2], minlength=ngroups)
    groups["calls_per_request"] = groups["count"] / groups["requests"]
    return groups


def _finding_id(
    kind: FindingKind, method: str | None, route: str | None, site: CallSite, target: str | None
) -> str:
    key = "|".join(str(x) for x in (kind.value, method, route, site.file, site.line, site.function, target))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


class _Context:
    def __init__(
        self,
        rec: Recordings,
        requests: pd.DataFrame,
        calls: pd.DataFrame,
        endpoints: pd.DataFrame,
        budgets: Budgets,
        source_root: bool,
    ) -> None:
        self.rec = rec
        self.requests = requests
        self.calls = calls
        self.endpoints = {
            (_str(m), _str(r)): row for (m, r), row in zip(endpoints.index, records(endpoints), strict=False)
        }
        self.budgets = budgets
        self.source_root = source_root
        self.ids = requests["id"].to_numpy()
        # Codes and values for lookups by row: a pandas lookup per finding cost more than all the rest.
        self._columns = {key: column_codes(calls[key]) for key in ("lib", "via", "reason")}

    def value(self, column: str, row: int) -> str | None:
        """The calls' ``column`` at ``row``, None where missing."""
        codes, values = self._columns[column]
        code = int(codes[row])
        return None if code < 0 else _str(values[code])

    def request_id(self, row: Any) -> str | None:
        return None if row is None or row != row or int(row) < 0 else str(self.ids[int(row)])

    def stack(self, route: str | None, site: CallSite) -> list[CallSite]:
        return list(self.rec.stacks.get((route, site.file, site.line, site.function), []))


def findings(
    rec: Recordings,
    requests: pd.DataFrame,
    calls: pd.DataFrame,
    endpoints: pd.DataFrame,
    budgets: Budgets,
    source_root: bool,
) -> list[Finding]:
    """Findings of every kind (defer, keep_sync, batch, fake_async, no_timeout, timeout_risk), by priority."""
    ctx = _Context(rec, requests, calls, endpoints, budgets, source_root)
    out: list[Finding] = []
    groups = call_groups(calls, requests)
    for g in records(groups) if not groups.empty else []:
        out.extend(_group_findings(ctx, g))
    out.extend(_timeout_risks(ctx, endpoints))
    return prioritise(out)


def _base(
    ctx: _Context,
    g: dict[str, Any],
    kind: FindingKind,
    severity: Severity,
    reason: str,
    savings: float,
    total_savings: float,
) -> Finding:
    shared = g.get(_SHARED)
    if shared is None:  # what every finding of the group says alike: worked out once per group
        shared = g[_SHARED] = _shared(ctx, g)
    site, method, route = shared["site"], shared["method"], shared["route"]
    return Finding(
        id=_finding_id(kind, method, route, site, shared["target"]),
        kind=kind,
        severity=severity,
        reason=reason,
        savings_ms_per_request=float(savings),
        stack=ctx.stack(route, site),
        evidence={
            "total_savings_ms": float(total_savings),
            "endpoint_requests": shared["endpoint_requests"],
            "max_ms": float(g["max_ms"]),
            "max_calls_per_request": int(g["max_per_request"]),
            "decided_by": "source" if ctx.source_root else "method and category",
        },
        **{key: value for key, value in shared.items() if key not in _NOT_FIELDS},
    )


_SHARED = "_shared"  # the key under which a group's row keeps what its findings share
_NOT_FIELDS = frozenset({"endpoint_requests"})
_CATEGORIES = {c.value: c for c in Category}
_DISPOSITIONS = {d.value: d for d in Disposition}


def _shared(ctx: _Context, g: dict[str, Any]) -> dict[str, Any]:
    method, route = _str(g["method"]), _str(g["route"])
    line = int(g["site_line"]) if g["site_line"] is not None and g["site_line"] >= 0 else None
    first = int(g["first_row"])
    count = float(g["count"])
    return {
        "category": _CATEGORIES[str(g["category"])],
        "disposition": _DISPOSITIONS[str(g["disposition"])],
        "rule": str(g["rule"]),
        "method": method,
        "route": route,
        "view": _str(g["view"]),
        "site": CallSite(_str(g["site_file"]), line, _str(g["site_function"])),
        "count": int(g["count"]),
        "requests": int(g["requests"]),
        "calls_per_request": float(g["calls_per_request"]),
        "mean_ms": float(g["mean_ms"]),
        "p95_ms": float(g["p95_ms"]),
        "share_of_request": float(g["share"]),
        "lib": ctx.value("lib", first),
        "via": ctx.value("via", first),
        "target": _str(g["target"]),
        "atomic": bool(g["atomic"]),
        "error_rate": float(g["errors"]) / count,
        "no_timeout_rate": float(g["no_timeout"]) / count,
        "example_request_id": ctx.request_id(g["example_row"]),
        "endpoint_requests": int(ctx.endpoints.get((method, route), {}).get("count", 0)),
    }


def _endpoint(ctx: _Context, g: dict[str, Any]) -> dict[str, Any]:
    return ctx.endpoints.get((_str(g["method"]), _str(g["route"])), {})


def _defer_severity(ctx: _Context, g: dict[str, Any], savings: float) -> Severity:
    endpoint = _endpoint(ctx, g)
    p95 = float(endpoint.get("p95_ms", 0.0))
    projected = float(endpoint.get("projected_p95_ms", p95))
    if endpoint.get("over_budget", 0) and float(g["p95_ms"]) >= 0.25 * ctx.budgets.platform_ms:
        return Severity.CRITICAL
    if savings >= 1000.0 or (p95 > ctx.budgets.user_ms >= projected and savings >= 100.0):
        return Severity.HIGH
    if savings >= 200.0 or float(g["share"]) >= 0.25:
        return Severity.MEDIUM
    if savings >= 50.0:
        return Severity.LOW
    return Severity.INFO


def _with_decision(ctx: _Context, reason: str) -> str:
    if ctx.source_root:
        return reason
    return reason + " (Decided by method and category; run with --source-root to check the call site.)"


def _group_findings(ctx: _Context, g: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    disposition = str(g["disposition"])
    requests = float(g["requests"])
    reason = str(_reason(ctx, g))
    if g["top_level"]:
        if disposition in (Disposition.DEFER.value, Disposition.REVIEW.value):
            total = float(g["excl_total_ms"])
            severity = _defer_severity(ctx, g, total / requests)
            if disposition == Disposition.REVIEW.value:
                severity = min(severity, Severity.LOW)
            text = _with_decision(ctx, reason) + _caveats(g)
            out.append(_base(ctx, g, FindingKind.DEFER, severity, text, total / requests, total))
        elif disposition == Disposition.KEEP_SYNC.value and (
            float(g["p95_ms"]) >= KEEP_SYNC_MIN_P95_MS or float(g["share"]) >= KEEP_SYNC_MIN_SHARE
        ):
            out.append(_base(ctx, g, FindingKind.KEEP_SYNC, Severity.INFO, reason, 0.0, 0.0))
        if int(g["inline_count"]) > 0:
            total = float(g["inline_total_ms"])
            text = (
                f"This enqueue ran the task inside the request in {int(g['inline_count'])} of "
                f"{int(g['count'])} calls: the task backend is in-process (Django's ImmediateBackend, Celery "
                "eager, Huey immediate). "
                "Configure a real worker to get this time back."
            )
            severity = max(Severity.MEDIUM, _defer_severity(ctx, g, total / requests))
            out.append(_base(ctx, g, FindingKind.FAKE_ASYNC, severity, text, total / requests, total))
        if str(g["kind"]) != "task" and float(g["calls_per_request"]) >= BATCH_MIN_CALLS_PER_REQUEST:
            per_request = (float(g["calls_per_request"]) - 1.0) * float(g["mean_ms"])
            text = (
                f"The same call runs {g['calls_per_request']:.1f} times per request "
                f"(up to {int(g['max_per_request'])}): "
                "make one bulk request, or one task for all of them."
            )
            severity = Severity.MEDIUM if per_request >= 200.0 else Severity.LOW
            out.append(_base(ctx, g, FindingKind.BATCH, severity, text, per_request, per_request * requests))
    if int(g["no_timeout"]) > 0:
        text = (
            f"{int(g['no_timeout'])} of {int(g['count'])} calls to {_str(g['target']) or 'this host'} had no "
            "timeout: one slow answer holds a web worker until the platform kills the request "
            f"({ctx.budgets.platform_ms / 1000:g} s). Set a timeout."
        )
        max_ms = float(g["max_ms"])
        if max_ms >= 0.5 * ctx.budgets.platform_ms:
            severity = Severity.HIGH
        elif float(g["p95_ms"]) >= 1000.0:
            severity = Severity.MEDIUM
        else:
            severity = Severity.LOW
        out.append(_base(ctx, g, FindingKind.NO_TIMEOUT, severity, text, 0.0, 0.0))
    return out


def _caveats(g: dict[str, Any]) -> str:
    text = ""
    errors = int(g["errors"])
    if errors:
        text += (
            f" {errors} of {int(g['count'])} calls failed: inside the request only the customer can retry, "
            "a task can retry on its own."
        )
    if g["atomic"]:
        text += " It runs inside transaction.atomic(): enqueue the task with transaction.on_commit()."
    return text


def _reason(ctx: _Context, g: dict[str, Any]) -> str:
    return str(ctx.value("reason", int(g["first_row"])))


def _timeout_risks(ctx: _Context, endpoints: pd.DataFrame) -> list[Finding]:
    out = []
    budget = ctx.budgets.platform_ms
    for (method, route), e in zip(endpoints.index, records(endpoints), strict=False):
        tail = max(float(e["p99_ms"]), float(e["max_ms"]))
        if tail < TIMEOUT_RISK_SHARE * budget:
            continue
        if e["over_budget"]:
            severity = Severity.CRITICAL
        elif float(e["p99_ms"]) >= 0.8 * budget:
            severity = Severity.HIGH
        else:
            severity = Severity.MEDIUM
        near = int(
            (
                ctx.requests.loc[_endpoint_mask(ctx.requests, method, route), "ms"]
                >= TIMEOUT_RISK_SHARE * budget
            ).sum()
        )
        reason = (
            f"p99 {e['p99_ms'] / 1000:.1f} s, slowest {e['max_ms'] / 1000:.1f} s against the "
            f"{budget / 1000:g} s platform budget ({ctx.budgets.platform_name}): "
            f"{int(e['over_budget'])} requests "
            f"went over it, {near} passed half of it. Without deferrable work the p99 would be "
            f"{e['projected_p99_ms'] / 1000:.1f} s."
        )
        site = CallSite(None, None, _str(e["view"]))
        count = int(e["count"])
        out.append(
            Finding(
                id=_finding_id(FindingKind.TIMEOUT_RISK, _str(method), _str(route), site, None),
                kind=FindingKind.TIMEOUT_RISK,
                category=Category.OTHER,
                disposition=Disposition.REVIEW,
                severity=severity,
                reason=reason,
                rule="budget:platform",
                method=_str(method),
                route=_str(route),
                view=_str(e["view"]),
                site=site,
                count=count,
                requests=count,
                calls_per_request=0.0,
                mean_ms=float(e["mean_ms"]),
                p95_ms=float(e["p95_ms"]),
                share_of_request=1.0,
                savings_ms_per_request=float(e["deferrable_total_ms"]) / count,
                example_request_id=ctx.request_id(e["example_row"]),
                evidence={
                    "p99_ms": float(e["p99_ms"]),
                    "max_ms": float(e["max_ms"]),
                    "over_budget": int(e["over_budget"]),
                    "over_half_budget": near,
                    "projected_p99_ms": float(e["projected_p99_ms"]),
                    # the endpoint's deferrable time: its defer findings rank by it, this one does not
                    "endpoint_deferrable_ms": float(e["deferrable_total_ms"]),
                },
            )
        )
    return out


def _endpoint_mask(requests: pd.DataFrame, method: Any, route: Any) -> np.ndarray:
    m = requests["method"].astype(object).to_numpy() == method
    routes = requests["route"].astype(object).to_numpy()
    if _str(route) is None:
        mask: np.ndarray = m & pd.isna(routes)
    else:
        mask = m & (routes == route)
    return mask


def prioritise(items: list[Finding]) -> list[Finding]:
    """Order by measured savings (total time given back), then severity; number them from 1."""

    def key(f: Finding) -> tuple[float, int, str]:
        return (-float(f.evidence.get("total_savings_ms", 0.0)), -f.severity.rank, f.id)

    items = sorted(items, key=key)
    for n, item in enumerate(items, 1):
        item.priority = n
    return items


def capacity(
    requests: pd.DataFrame, workers: int | None, window: tuple[float | None, float | None]
) -> Capacity:
    """Worker time on deferrable work and what moving it frees, by Little's law (busy = rate x time)."""
    n = len(requests)
    total_s = float(requests["ms"].sum()) / 1000.0
    deferrable_s = float(requests["deferrable_ms"].sum()) / 1000.0
    first, last = window
    span = (last - first) if first is not None and last is not None else 0.0
    unsampled = int(requests["unsampled"].sum()) if "unsampled" in requests else 0
    scale = (n + unsampled) / n if n else 1.0  # sampled-out requests cost workers too
    busy_now = total_s * scale / span if span > 0 else None
    busy_after = (total_s - deferrable_s) * scale / span if span > 0 else None
    freed = busy_now - busy_after if busy_now is not None and busy_after is not None else None
    return Capacity(
        window_s=span,
        requests=n,
        worker_s_total=total_s,
        worker_s_deferrable=deferrable_s,
        workers=workers,
        busy_workers_now=busy_now,
        busy_workers_after=busy_after,
        share_freed=deferrable_s / total_s if total_s > 0 else 0.0,
        capacity_freed=freed / workers if workers and freed is not None else None,
    )


def _label(call: dict[str, Any]) -> str:
    kind = str(call["kind"])
    if kind == "http":
        return f"{_str(call['method']) or '?'} {_str(call['host']) or '?'}{_str(call['path']) or ''}"
    if kind == "email":
        backend = _str(call["backend"]) or "?"
        return f"email via {backend.rsplit('.', 1)[-1]}"
    if kind == "sql":
        sql = _str(call["sql"]) or "SQL"
        return sql if len(sql) <= 80 else sql[:77] + "..."
    if kind == "task":
        return f"enqueue {_str(call['task']) or '?'}"
    if kind == "block":
        return f"block {_str(call['name']) or '?'}"
    return kind


def examples(
    requests: pd.DataFrame, calls: pd.DataFrame, endpoints: pd.DataFrame, limit: int = EXAMPLES
) -> list[ExampleRequest]:
    """A representative slow request (nearest the p95 from above) of each of the busiest endpoints."""
    out = []
    req = calls["req"].to_numpy()
    for row in endpoints["example_row"].head(limit):
        if row is None or row < 0:
            continue
        r = requests.iloc[int(row)]
        lo, hi = np.searchsorted(req, int(row), "left"), np.searchsorted(req, int(row), "right")
        waterfall = [
            WaterfallCall(
                kind=str(c["kind"]),
                label=_label(c),
                t_ms=float(c["t"]),
                ms=float(c["ms"]),
                depth=int(c["depth"]),
                disposition=Disposition(str(c["disposition"])),
            )
            for c in records(calls.iloc[lo:hi])
        ]
        out.append(
            ExampleRequest(
                id=str(r["id"]),
                method=str(r["method"]),
                route=_str(r["route"]),
                ms=float(r["ms"]),
                projected_ms=float(r["projected_ms"]),
                calls=waterfall,
            )
        )
    return out
