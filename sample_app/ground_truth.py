"""Read GROUND_TRUTH.toml: the cases planted in the Ledgerly site, for tests to check an audit against.

from ground_truth import load
truth = load()
for case in truth.required:
    ...  # case.kind, case.category, case.disposition, case.file, case.line, case.route, case.record
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PATH = Path(__file__).resolve().parent / "GROUND_TRUTH.toml"


@dataclass(frozen=True)
class Case:
    """One planted case: what the audit must (``required``) or may report, and where."""

    id: str
    kind: str
    category: str
    disposition: str
    file: str
    line: int
    function: str
    method: str
    route: str
    view: str
    required: bool
    detect: tuple[str, ...]
    record: dict[str, Any]
    marker: str
    disposition_without_source: str | None = None
    note: str = ""

    @property
    def site(self) -> tuple[str, int]:
        return self.file, self.line


@dataclass(frozen=True)
class Allowed:
    """A finding an audit may report although nothing was planted for it (anywhere in the site)."""

    kind: str
    category: str
    disposition: str
    note: str = ""


@dataclass(frozen=True)
class GroundTruth:
    cases: tuple[Case, ...]
    allowed: tuple[Allowed, ...] = field(default=())
    rules: Path | None = None  # the project's async-audit.toml

    @property
    def required(self) -> tuple[Case, ...]:
        return tuple(case for case in self.cases if case.required)

    def by_id(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)

    def explains(self, *, kind: str, category: str, file: str | None, line: int | None) -> bool:
        """Whether a finding of this kind and category at this site is one the site is known to produce."""
        if any(
            (case.kind, case.category, case.file, case.line) == (kind, category, file, line)
            for case in self.cases
        ):
            return True
        return any((allowed.kind, allowed.category) == (kind, category) for allowed in self.allowed)


def load(path: Path = PATH) -> GroundTruth:
    data = tomllib.loads(Path(path).read_text())
    cases = tuple(
        Case(
            id=raw["id"],
            kind=raw["kind"],
            category=raw["category"],
            disposition=raw["disposition"],
            file=raw["file"],
            line=raw["line"],
            function=raw["function"],
            method=raw["method"],
            route=raw["route"],
            view=raw["view"],
            required=raw["required"],
            detect=tuple(raw["detect"]),
            record=dict(raw["record"]),
            marker=raw.get("marker", raw["id"]),
            disposition_without_source=raw.get("disposition_without_source"),
            note=raw.get("note", ""),
        )
        for raw in data["case"]
    )
    allowed = tuple(
        Allowed(raw["kind"], raw["category"], raw["disposition"], raw.get("note", ""))
        for raw in data.get("allowed", [])
    )
    rules = Path(path).parent / data["rules"] if "rules" in data else None
    return GroundTruth(cases, allowed, rules)


def sync_lines(path: Path = PATH) -> list[str]:
    """Set each case's ``line`` to its marker comment's line; returns what moved ("id: old -> new")."""
    separator = "\n[[case]]\n"
    head, *blocks = Path(path).read_text().split(separator)
    moved = []
    for n, block in enumerate(blocks):
        case_id = _field(block, "id")
        marker = _field(block, "marker", case_id)
        source = (Path(path).parent / _field(block, "file")).read_text().splitlines()
        comment = re.compile(r"#\s*audit:\s*" + re.escape(marker) + r"\s*$")
        hits = [number for number, text in enumerate(source, start=1) if comment.search(text)]
        if len(hits) != 1:
            raise ValueError(f"{case_id}: marker {marker!r} found on {len(hits)} lines, expected one")
        old = int(_field(block, "line"))
        if old != hits[0]:
            moved.append(f"{case_id}: {old} -> {hits[0]}")
            blocks[n] = re.sub(r"^line = \d+$", f"line = {hits[0]}", block, count=1, flags=re.M)
    Path(path).write_text(separator.join([head, *blocks]))
    return moved


def _field(block: str, name: str, default: str | None = None) -> str:
    match = re.search(rf'^{name} = "?([^"\n]+)"?$', block, re.M)
    if match is None:
        if default is None:
            raise ValueError(f"a case without {name!r}")
        return default
    return match.group(1)


if __name__ == "__main__":
    if sys.argv[1:] != ["--sync"]:
        sys.exit("usage: python sample_app/ground_truth.py --sync")
    for line in sync_lines() or ["every case's line is where its marker is"]:
        print(line)
