"""``python -m benchmarks.scan``: how fast ``async-audit scan`` reads a large codebase.

By default it scans the installed Django package (about 150,000 lines of real, varied Python) as if it
were a project: every file is read, parsed, indexed, its URLconfs and views found and its call graph built.
Each round times a baseline first, the bare ``ast.parse`` of the same files (the floor for any scanner built
on ``ast``), then the full ``scan_project``; the figures printed are the best and the median over rounds,
and the ratio of the scan's speed to the baseline's, which stays meaningful on a busy, shared machine where
both slow down alike. The target is 50,000 lines per second.
"""

from __future__ import annotations

import argparse
import ast
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

from async_audit.rules import load_rules
from async_audit.scan import scan_project
from async_audit.scan.project import discover
from async_audit.scan.source import count_lines, no_gc

TARGET_LINES_PER_S = 50_000


def _default_root() -> Path:
    import django

    return Path(django.__file__).resolve().parent


def _baseline(files: list[bytes]) -> float:
    started = time.perf_counter()
    with no_gc(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for data in files:
            try:
                ast.parse(data)
            except SyntaxError:
                pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scan", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None, help="tree to scan (default: the Django package)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    root: Path = args.root or _default_root()

    files = [path.read_bytes() for path in discover(root)]
    lines = sum(count_lines(data) for data in files)
    rules = load_rules()  # the built-in rules: the scanned tree has no configuration of its own
    print(f"corpus: {root} ({len(files)} files, {lines:,} lines); Python {sys.version.split()[0]}")

    parse_s: list[float] = []
    scan_s: list[float] = []
    findings = 0
    for _ in range(args.rounds):
        parse_s.append(_baseline(files))
        started = time.perf_counter()
        report = scan_project(root, rules=rules)
        scan_s.append(time.perf_counter() - started)
        findings = len(report.findings)

    def rate(seconds: float) -> str:
        return f"{lines / seconds:>9,.0f} lines/s ({seconds:.2f} s)"

    best_scan = lines / min(scan_s)
    print(f"baseline ast.parse  best {rate(min(parse_s))}   median {rate(statistics.median(parse_s))}")
    print(f"scan_project        best {rate(min(scan_s))}   median {rate(statistics.median(scan_s))}")
    ratio = statistics.median(p / s for p, s in zip(parse_s, scan_s, strict=True))
    print(f"scan speed / bare parse speed: {ratio:.2f} (median over rounds)")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"findings: {findings}; peak RSS {peak_mib:,.0f} MiB (the corpus's bytes and one scan at a time)")
    verdict = "meets" if best_scan >= TARGET_LINES_PER_S else "MISSES"
    print(f"target {TARGET_LINES_PER_S:,} lines/s: {verdict} it ({best_scan:,.0f} lines/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
