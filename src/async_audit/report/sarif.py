"""The SARIF 2.1.0 report: one result per finding at its file and line, for code scanning and editors."""

from __future__ import annotations

import json
import math
import re
from importlib import metadata
from typing import Any, ClassVar
from urllib.parse import quote

from async_audit.analyze.model import Finding, FindingKind, Report, Severity
from async_audit.report.base import Renderer
from async_audit.report.context import finding_order
from async_audit.report.formatting import KIND_LABELS, endpoint_label, fmt_ms, fmt_pct, one_line

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://example.invalid/async-audit"

_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

_RULE_HELP = {
    FindingKind.DEFER: "Work the response does not depend on runs inside the request: move it to a task.",
    FindingKind.KEEP_SYNC: "Slow work that must stay in the request: the response depends on it.",
    FindingKind.BATCH: "The same call repeats within one request: make it one task or one bulk call.",
    FindingKind.TIMEOUT_RISK: "The endpoint's slowest requests come close to the platform's request timeout.",
    FindingKind.NO_TIMEOUT: "An outbound call without a timeout can hold a web worker until it is killed.",
    FindingKind.FAKE_ASYNC: "A task enqueue whose backend runs the work inside the request.",
}


def _version() -> str:
    try:
        return metadata.version("async-audit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0"


def _text(value: object) -> str:
    """Plain message text: SARIF reads ``[text](target)`` as an embedded link, so brackets are escaped."""
    return re.sub(r"([\\\[\]])", r"\\\1", one_line(value))


def _uri(file: str) -> str:
    # A relative URI reference, resolved against the repository root by code scanning (SRCROOT).
    return quote(file.replace("\\", "/").lstrip("/"), safe="/-._~")


class SARIFRenderer(Renderer):
    """One rule per finding kind; ``partialFingerprints`` carry the finding's stable id across runs."""

    name: ClassVar[str] = "sarif"
    output_file_extension: ClassVar[str] = "sarif"

    def render(self, report: Report) -> str:
        kinds = list(FindingKind)
        results = [self._result(f, kinds.index(f.kind)) for f in sorted(report.findings, key=finding_order)]
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": "async-audit",
                    "semanticVersion": _version(),
                    "informationUri": INFORMATION_URI,
                    "rules": [_rule(kind) for kind in kinds],
                }
            },
            "originalUriBaseIds": {
                "SRCROOT": {"description": {"text": "The root of the audited project's source tree."}}
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {"generatedAt": report.generated_at, "title": one_line(report.title)},
        }
        document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def _result(self, finding: Finding, rule_index: int) -> dict[str, Any]:
        endpoint = endpoint_label(finding.method, finding.route)
        message = f"{finding.reason} [{endpoint}: {finding.count} calls, p95 {fmt_ms(finding.p95_ms)}"
        if finding.savings_ms_per_request >= 1:
            message += f", saves {fmt_ms(finding.savings_ms_per_request)} per request"
        message += f", {fmt_pct(finding.share_of_request)} of the request]"
        result: dict[str, Any] = {
            "ruleId": finding.kind.value,
            "ruleIndex": rule_index,
            "level": _LEVELS[finding.severity],
            "kind": "informational" if finding.kind is FindingKind.KEEP_SYNC else "fail",
            "message": {"text": _text(message)},
            "partialFingerprints": {"asyncAuditFindingId/v1": finding.id},
            "properties": _properties(finding),
        }
        if result["kind"] == "informational":
            # SARIF: a result whose kind is not "fail" has level "none".
            result["level"] = "none"
        location = _location(finding)
        if location is not None:
            result["locations"] = [location]
        stack = [frame for frame in finding.stack if frame.file]
        if len(stack) > 1:
            result["relatedLocations"] = [
                _physical(frame.file or "", frame.line, frame.function, index)
                for index, frame in enumerate(stack[1:], start=1)
            ]
        return result


def _rule(kind: FindingKind) -> dict[str, Any]:
    return {
        "id": kind.value,
        "name": "".join(part.capitalize() for part in kind.value.split("_")),
        "shortDescription": {"text": KIND_LABELS[kind.value]},
        "fullDescription": {"text": _RULE_HELP[kind]},
        "defaultConfiguration": {"level": "note" if kind is FindingKind.KEEP_SYNC else "warning"},
        "properties": {"tags": ["performance", "async-audit"]},
    }


def _physical(file: str, line: int | None, function: str | None, index: int | None = None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file), "uriBaseId": "SRCROOT"}}
    if line and line > 0:
        physical["region"] = {"startLine": line}
    location: dict[str, Any] = {"physicalLocation": physical}
    if index is not None:
        location["id"] = index
    if function:
        location["logicalLocations"] = [{"name": one_line(function), "kind": "function"}]
    return location


def _location(finding: Finding) -> dict[str, Any] | None:
    """The call site; for endpoint-level findings without one, the first project frame or the view."""
    site = finding.site
    if site.file:
        return _physical(site.file, site.line, site.function)
    for frame in finding.stack:
        if frame.file:
            return _physical(frame.file, frame.line, frame.function)
    if finding.view or finding.route:
        name = one_line(finding.view or endpoint_label(finding.method, finding.route))
        return {
            "logicalLocations": [
                {"fullyQualifiedName": name, "kind": "function" if finding.view else "resource"}
            ]
        }
    return None


def _properties(finding: Finding) -> dict[str, Any]:
    stub = finding.stub
    properties: dict[str, Any] = {
        "severity": finding.severity.value,
        "category": finding.category.value,
        "disposition": finding.disposition.value,
        "method": finding.method,
        "route": finding.route,
        "view": finding.view,
        "count": finding.count,
        "requests": finding.requests,
        "callsPerRequest": finding.calls_per_request,
        "meanMs": finding.mean_ms,
        "p95Ms": finding.p95_ms,
        "shareOfRequest": finding.share_of_request,
        "savingsMsPerRequest": finding.savings_ms_per_request,
        "priority": finding.priority,
        "rule": finding.rule,
        "source": finding.source,
        "tags": ["performance", finding.category.value],
    }
    if finding.target:
        properties["target"] = finding.target
    if finding.example_request_id:
        properties["exampleRequestId"] = finding.example_request_id
    if stub is not None:
        properties["stub"] = {"backend": stub.backend, "taskName": stub.task_name}
    # JSON has no NaN or Infinity: a figure that could not be computed is left out.
    return {k: v for k, v in properties.items() if not (isinstance(v, float) and not math.isfinite(v))}
