"""Analyzer benchmark: load, classify, find and write the JSON report for 100k, 300k and 1M requests.

Each size runs in a fresh process (so peak memory is its own), on records from ``generate.py`` with three
calls per request, spread over eight files as eight recorder processes would write them. Generated inputs
are kept in ``benchmarks/out/analyze/`` and reused.

    .venv/bin/python benchmarks/analyze/bench.py                 # 100k, 300k, 1M
    .venv/bin/python benchmarks/analyze/bench.py --sizes 100000  # one size
    .venv/bin/python benchmarks/analyze/bench.py --sizes 1000000 --repeat 3  # the median of three runs

Target (issue 3): 1,000,000 requests and 3,000,000 calls end to end in at most 20 s and 3 GB peak memory on
the project's 2-core machine, with time growing linearly with the input.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "out" / "analyze"
TARGET_S, TARGET_GB = 20.0, 3.0


def _inputs(requests: int) -> Path:
    sys.path.insert(0, str(HERE))
    from generate import generate

    folder = OUT / f"records-{requests}"
    stamp = folder / ".complete"
    if not stamp.exists():
        print(f"generating {requests:,} requests into {folder} (once) ...", flush=True)
        generate(folder, requests, files=8, seed=1)
        stamp.write_text("ok")
    return folder


def _peak_gb() -> float:
    # ru_maxrss is in KiB on Linux: the parent's own peak and the largest worker's peak.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) * 1024 / 1e9


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _json_floor(folder: Path) -> float:
    """CPU seconds a bare ``json.loads`` of every line costs (measured on one file of eight, scaled up).

    The floor for any loader built on the standard library's parser; the collector is paused, as the
    loader does.
    """
    files = sorted(folder.glob("*.jsonl"))
    sample = files[0]
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.process_time()
        with sample.open("rb") as fh:
            for line in fh:
                json.loads(line)
        spent = time.process_time() - started
    finally:
        if enabled:
            gc.enable()
    return spent * sum(f.stat().st_size for f in files) / sample.stat().st_size


def _arrow_floor(folder: Path) -> float:
    """CPU seconds a bare ``pyarrow.json.read_json`` of the files costs on one core, with the loader's schema
    (measured on one file of eight, scaled up): the floor of the loader's fast path, which checks the columns
    and turns them into the frames' codes on top of it."""
    import pyarrow.json as pj

    from async_audit.analyze import _arrow

    files = sorted(folder.glob("*.jsonl"))
    sample = files[0]
    started = time.process_time()
    pj.read_json(
        sample,
        read_options=pj.ReadOptions(use_threads=False),
        parse_options=pj.ParseOptions(explicit_schema=_arrow._SCHEMA, unexpected_field_behavior="ignore"),
    )
    spent = time.process_time() - started
    return spent * sum(f.stat().st_size for f in files) / sample.stat().st_size


def run_one(requests: int) -> dict[str, float]:
    """Time one size in this process (called in a child process by ``main``)."""
    from async_audit.analyze import AnalysisOptions, analyze, load_records

    folder = _inputs(requests)
    floor = _json_floor(folder)
    arrow_floor = _arrow_floor(folder)
    report_path = OUT / f"report-{requests}.json"
    cpu = _cpu_s()
    started = time.perf_counter()
    rec = load_records([folder])
    loaded = time.perf_counter()
    report = analyze(rec, AnalysisOptions(workers=16))
    analysed = time.perf_counter()
    with report_path.open("w") as fh:
        json.dump(report.to_dict(), fh)
    written = time.perf_counter()
    return {
        "requests": rec.stats.records,
        "calls": rec.stats.calls,
        "bytes": sum(p.stat().st_size for p in folder.glob("*.jsonl")),
        "load_s": loaded - started,
        "analyze_s": analysed - loaded,
        "write_s": written - analysed,
        "total_s": written - started,
        "cpu_s": _cpu_s() - cpu,  # all processes: on a busy machine, wall time waits for other work
        "peak_gb": _peak_gb(),
        "json_floor_cpu_s": floor,
        "arrow_floor_cpu_s": arrow_floor,
        "findings": len(report.findings),
        "endpoints": len(report.endpoints),
    }


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median total time (the lower middle one of an even number)."""
    return sorted(runs, key=lambda r: r["total_s"])[(len(runs) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size, each in a fresh process (median reported)"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        _inputs(size)
        runs = []
        for _ in range(max(1, args.repeat)):
            before = os.getloadavg()[0]
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(size)],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ,
            )
            run = json.loads(done.stdout.strip().splitlines()[-1])
            run["loadavg"] = (before, os.getloadavg()[0])  # other work on the machine, before and after
            runs.append(run)
        rows.append(runs)
    print(
        f"{'requests':>10} {'calls':>10} {'MB':>7} {'load s':>7} {'analyze s':>9} {'write s':>7} "
        f"{'total s':>7} {'s/100k':>6} {'cpu s':>6} {'json s':>6} {'arrow s':>7} {'peak GB':>7} "
        f"{'loadavg':>9}"
    )
    for runs in rows:
        for r in runs:
            mark = " *" if len(runs) > 1 and r is _median_run(runs) else ""
            print(
                f"{r['requests']:>10,} {r['calls']:>10,} {r['bytes'] / 1e6:>7.0f} {r['load_s']:>7.2f} "
                f"{r['analyze_s']:>9.2f} {r['write_s']:>7.2f} {r['total_s']:>7.2f} "
                f"{r['total_s'] / r['requests'] * 1e5:>6.2f} {r['cpu_s']:>6.1f} "
                f"{r['json_floor_cpu_s']:>6.1f} {r['arrow_floor_cpu_s']:>7.1f} {r['peak_gb']:>7.2f} "
                f"{r['loadavg'][0]:>4.1f}-{r['loadavg'][1]:<4.1f}{mark}".rstrip()
            )
    medians = [_median_run(runs) for runs in rows]
    if args.repeat > 1:
        print("*: the median run of its size (by total time)")
    if len(medians) > 1:
        first, last = medians[0], medians[-1]
        ratio = (last["total_s"] / last["requests"]) / (first["total_s"] / first["requests"])
        size, base = f"{last['requests']:,}", f"{first['requests']:,}"
        print(f"linearity: time per request at {size} is {ratio:.2f}x that at {base}")
    print(
        "cpu s: all processes; json s: a bare json.loads of every line on one core (the standard library "
        "path's floor); arrow s: a bare pyarrow.json.read_json of the files on one core (the fast path's "
        "floor); loadavg: the 1-minute load average before and after the run"
    )
    biggest = medians[-1]
    print(
        f"target for 1M: <= {TARGET_S:.0f} s and <= {TARGET_GB:.0f} GB; "
        f"measured at {biggest['requests']:,}: {biggest['total_s']:.1f} s, {biggest['peak_gb']:.2f} GB"
    )


if __name__ == "__main__":
    main()
