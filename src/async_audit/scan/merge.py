"""Recorded and static findings in one report: what the measurements confirm, and what each side missed."""

from __future__ import annotations

import dataclasses

from async_audit.analyze.model import Finding, FindingKind, Report

__all__ = ["merge_static"]

# Kinds that belong to one call site (an endpoint's timeout risk has no site to match).
_SITE_KINDS = frozenset(
    {
        FindingKind.DEFER,
        FindingKind.KEEP_SYNC,
        FindingKind.BATCH,
        FindingKind.NO_TIMEOUT,
        FindingKind.FAKE_ASYNC,
    }
)


def _key(finding: Finding) -> tuple[str, str | None, int | None]:
    return finding.kind.value, finding.site.file, finding.site.line


def merge_static(recorded: Report, static: Report) -> Report:
    """``recorded`` with ``static``'s findings merged in, matched by kind and call site (file and line).

    A recorded finding the scan also found gets ``confirmed = True`` and ``evidence["static"] =
    "confirmed"``; one the scan did not find gets ``evidence["static"] = "missed"`` (code outside the scanned
    tree, a call through a library the scan does not know, or a path longer than the scan follows). A static
    finding no recording shows is added with ``confirmed = False`` (never run while recording, or too rare to
    be caught). Site paths must be relative to the same root: pass the project root as ``--source-root``.
    Returns a new report; the inputs are not changed.
    """
    by_site = {_key(f): f for f in static.findings if f.kind in _SITE_KINDS}
    merged: list[Finding] = []
    seen: set[tuple[str, str | None, int | None]] = set()
    for finding in recorded.findings:
        if finding.kind not in _SITE_KINDS:
            merged.append(finding)
            continue
        twin = by_site.get(_key(finding))
        evidence = dict(finding.evidence)
        if twin is None:
            evidence["static"] = "missed"
            merged.append(dataclasses.replace(finding, evidence=evidence))
            continue
        seen.add(_key(twin))
        evidence["static"] = "confirmed"
        for name in ("entry_points", "reaches_response"):
            if name in twin.evidence:
                evidence[f"static_{name}"] = twin.evidence[name]
        merged.append(dataclasses.replace(finding, confirmed=True, evidence=evidence))
    unconfirmed = [
        dataclasses.replace(f, confirmed=False)
        for f in static.findings
        if f.kind in _SITE_KINDS and _key(f) not in seen
    ]
    merged.extend(unconfirmed)
    for number, finding in enumerate(merged, start=1):
        finding.priority = number
    missed = sum(1 for f in merged if f.evidence.get("static") == "missed")
    sources = dataclasses.replace(
        recorded.sources,
        kind="recorded+static",
        source_root=static.sources.source_root,
        skipped_lines=recorded.sources.skipped_lines,
        notes=[
            *recorded.sources.notes,
            f"Static scan of {static.sources.source_root}: {len(seen)} findings confirmed by the recordings, "
            f"{len(unconfirmed)} found in the source only (never seen while recording), "
            f"{missed} recorded but not found by the scan.",
            *static.sources.notes,
        ],
    )
    return dataclasses.replace(recorded, sources=sources, findings=merged)
