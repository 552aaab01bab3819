"""``python -m benchmarks.recorder``: the recorder's added time per request, against silk and OpenTelemetry.

Each round runs every configuration in a fresh process (its own settings, a clean interpreter), in an order
that rotates from round to round, so slow drift on a shared machine falls on every configuration alike. Each
process times the four views through the WSGI callable in-process. Per view, a configuration's added time is
its median minus the no-middleware median of the same round; the figures printed are medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.recorder.worker import CONFIGS, VIEWS

ROOT = Path(__file__).resolve().parents[2]
LABELS = {
    "none": "no middleware",
    "async_audit": "async-audit",
    "silk": "django-silk",
    "otel": "OpenTelemetry",
}


def start_servers() -> tuple[subprocess.Popen[str], dict[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.recorder.servers"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ports: dict[str, int] = json.loads(proc.stdout.readline())
    return proc, ports


def run_worker(config: str, ports: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ, BENCH_HTTP_PORT=str(ports["http"]), PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.recorder.worker",
        "--config",
        config,
        "--smtp-port",
        str(ports["smtp"]),
        "--views",
        ",".join(args.views),
        "--seconds",
        str(args.seconds),
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{config} worker failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(
    rounds: list[dict[str, dict[str, Any]]], configs: list[str], views: list[str]
) -> dict[str, Any]:
    """Medians over rounds of each configuration's median, of its added time and of its paired ratio."""
    out: dict[str, Any] = {}
    for view in views:
        row: dict[str, Any] = {}
        for config in configs:
            medians = [r[config]["views"][view]["median_us"] for r in rounds]
            walls = [r[config]["views"][view]["wall_us"] for r in rounds]
            base = [r["none"]["views"][view]["median_us"] for r in rounds]
            base_wall = [r["none"]["views"][view]["wall_us"] for r in rounds]
            row[config] = {
                "median_us": median(medians),
                "added_us": median([m - b for m, b in zip(medians, base, strict=True)]),
                "ratio": median([m / b for m, b in zip(medians, base, strict=True)]),
                "added_wall_us": median([w - b for w, b in zip(walls, base_wall, strict=True)]),
            }
        out[view] = row
    return out


def per_call_us(rounds: list[dict[str, dict[str, Any]]]) -> float:
    """Added cost of one recorded outbound call: (3-call view - trivial view), recorder minus none, over 3."""
    costs = []
    for r in rounds:
        aa, none = r["async_audit"]["views"], r["none"]["views"]
        with_rec = aa["outbound"]["median_us"] - aa["trivial"]["median_us"]
        without = none["outbound"]["median_us"] - none["trivial"]["median_us"]
        costs.append((with_rec - without) / 3)
    return median(costs)


def print_report(
    summary: dict[str, Any], configs: list[str], rounds: list[dict[str, dict[str, Any]]]
) -> None:
    views = list(summary)
    print("\nMedian time per request (µs), added time against no middleware (µs), paired ratio:\n")
    header = f"{'view':<10}" + "".join(f"{LABELS[c]:>30}" for c in configs)
    print(header)
    for view in views:
        cells = []
        for c in configs:
            cell = summary[view][c]
            if c == "none":
                cells.append(f"{cell['median_us']:>30.1f}")
            else:
                text = f"{cell['median_us']:.1f} (+{cell['added_us']:.1f}, x{cell['ratio']:.3f})"
                cells.append(f"{text:>30}")
        print(f"{view:<10}" + "".join(cells))
    print("\nAdded wall time per request, background threads included (µs):")
    for view in views:
        print(
            f"  {view:<10}"
            + "  ".join(
                f"{LABELS[c]} +{summary[view][c]['added_wall_us']:.1f}" for c in configs if c != "none"
            )
        )
    recorder = [r["async_audit"].get("recorder") for r in rounds if "async_audit" in r]
    if recorder and recorder[-1]:
        last = recorder[-1]
        print(
            f"\nasync-audit hooks installed: {', '.join(last['hooks'])}; last round wrote {last['records']} "
            f"records, calls {last['calls']}, lost {last['lost']}"
        )


def check_targets(summary: dict[str, Any], rounds: list[dict[str, dict[str, Any]]]) -> bool:
    print("\nTargets:")
    ok = True

    def line(passed: bool, text: str) -> None:
        nonlocal ok
        ok = ok and passed
        print(f"  [{'PASS' if passed else 'MISS'}] {text}")

    for view, row in summary.items():
        aa = row["async_audit"]["added_us"]
        if "otel" in row:
            otel = row["otel"]["added_us"]
            line(aa < otel, f"{view}: async-audit adds {aa:.1f} µs < OpenTelemetry's {otel:.1f} µs")
        if "silk" in row:
            silk = row["silk"]["added_us"]
            line(
                aa <= silk / 20,
                f"{view}: async-audit adds {aa:.1f} µs <= silk's {silk:.1f} / 20 = {silk / 20:.1f}",
            )
    if "trivial" in summary:
        base = summary["trivial"]["none"]["median_us"]
        aa = summary["trivial"]["async_audit"]["added_us"]
        line(
            aa <= base * 0.10,
            f"trivial: async-audit adds {aa:.1f} µs <= 10% of {base:.1f} µs = {base * 0.1:.1f}",
        )
    if "outbound" in summary and "trivial" in summary:
        call = per_call_us(rounds)
        line(call <= 15.0, f"each recorded outbound call costs {call:.1f} µs <= 15 µs")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recorder", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each view per process")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated; 'none' is always run")
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated")
    parser.add_argument("--json", type=Path, help="also write every round's raw figures here")
    args = parser.parse_args(argv)
    configs = ["none"] + [c for c in args.configs.split(",") if c != "none"]
    args.views = args.views.split(",")
    if "async_audit" not in configs:
        parser.error("--configs must include async_audit")
    servers, ports = start_servers()
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        for n in range(args.rounds):
            shift = n % len(configs)
            order = configs[shift:] + configs[:shift]
            results = {}
            for config in order:
                results[config] = run_worker(config, ports, args)
                trivial = results[config]["views"].get(args.views[0], {})
                print(
                    f"round {n + 1}/{args.rounds} {config:<12} {args.views[0]} "
                    f"median {trivial.get('median_us', 0):.1f} µs",
                    file=sys.stderr,
                    flush=True,
                )
            rounds.append(results)
    finally:
        assert servers.stdin is not None
        servers.stdin.close()
        servers.wait(10)
    summary = summarise(rounds, configs, args.views)
    print(f"\n{args.rounds} rounds, {args.seconds} s per view per process; Python {sys.version.split()[0]}")
    print_report(summary, configs, rounds)
    ok = check_targets(summary, rounds)
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
