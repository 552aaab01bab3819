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
    "silk+async_audit": "silk + async-audit",
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


METRICS = {
    "median_us": "wall time, median",
    "cpu_median_us": "request thread CPU time, median",
    "process_cpu_us": "process CPU time (all threads) per request",
}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(
    rounds: list[dict[str, dict[str, Any]]], configs: list[str], views: list[str], metric: str
) -> dict[str, Any]:
    """Per view and configuration: the median over rounds of ``metric``, of the time it adds to the
    no-middleware run of the same round, and of the ratio to it (paired by round)."""
    out: dict[str, Any] = {}
    for view in views:
        row: dict[str, Any] = {}
        base = [r["none"]["views"][view][metric] for r in rounds]
        for config in configs:
            values = [r[config]["views"][view][metric] for r in rounds]
            row[config] = {
                "value_us": median(values),
                "added_us": median([v - b for v, b in zip(values, base, strict=True)]),
                "ratio": median([v / b for v, b in zip(values, base, strict=True)]),
            }
        out[view] = row
    return out


def per_call_us(rounds: list[dict[str, dict[str, Any]]], metric: str) -> float:
    """Added cost of one recorded outbound call: (3-call view - trivial view), recorder minus none, over 3."""
    costs = []
    for r in rounds:
        aa, none = r["async_audit"]["views"], r["none"]["views"]
        with_recorder = aa["outbound"][metric] - aa["trivial"][metric]
        without = none["outbound"][metric] - none["trivial"][metric]
        costs.append((with_recorder - without) / 3)
    return median(costs)


def print_table(summary: dict[str, Any], configs: list[str], metric: str) -> None:
    print(f"\n{METRICS[metric]} per request, µs: value (added against no middleware, paired ratio)")
    print(f"{'view':<10}" + "".join(f"{LABELS[c]:>30}" for c in configs))
    for view, row in summary.items():
        cells = []
        for c in configs:
            cell = row[c]
            if c == "none":
                cells.append(f"{cell['value_us']:>30.1f}")
            else:
                text = f"{cell['value_us']:.1f} ({cell['added_us']:+.1f}, x{cell['ratio']:.3f})"
                cells.append(f"{text:>30}")
        print(f"{view:<10}" + "".join(cells))


def check_targets(summary: dict[str, Any], rounds: list[dict[str, dict[str, Any]]], metric: str) -> bool:
    print(f"\nTargets, on {METRICS[metric]}:")
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
        base = summary["trivial"]["none"]["value_us"]
        aa = summary["trivial"]["async_audit"]["added_us"]
        line(
            aa <= base * 0.10,
            f"trivial: async-audit adds {aa:.1f} µs <= 10% of {base:.1f} µs = {base * 0.1:.1f}",
        )
    if "outbound" in summary and "trivial" in summary:
        call = per_call_us(rounds, metric)
        line(call <= 15.0, f"each recorded outbound call costs {call:.1f} µs <= 15 µs")
    return ok


def print_paired(rounds: list[dict[str, dict[str, Any]]], wall: dict[str, Any]) -> bool:
    """The in-process on/off pairs: the steadiest figure for the recorder's own cost."""
    paired = [r["async_audit"]["paired"] for r in rounds if "paired" in r["async_audit"]]
    if not paired:
        return True
    views = list(paired[0])
    print(
        "\nasync-audit on/off in turns in one process (median over rounds of the per-pair median), µs added:"
    )
    added: dict[str, dict[str, float]] = {}
    for view in views:
        added[view] = {
            "wall": median([p[view]["added_wall_us"] for p in paired]),
            "cpu": median([p[view]["added_cpu_us"] for p in paired]),
        }
        print(
            f"  {view:<10} wall {added[view]['wall']:+8.1f}   request thread CPU {added[view]['cpu']:+8.1f}"
        )
    ok = True
    print("\nTargets, on the on/off pairs:")
    if "trivial" in added:
        base = wall["trivial"]["none"]["value_us"]
        for basis in ("wall", "cpu"):
            aa = added["trivial"][basis]
            passed = aa <= base * 0.10
            ok = ok and passed
            print(
                f"  [{'PASS' if passed else 'MISS'}] trivial ({basis}): async-audit adds {aa:.1f} µs "
                f"<= 10% of {base:.1f} µs = {base * 0.1:.1f}"
            )
    if "trivial" in added and "outbound" in added:
        for basis in ("wall", "cpu"):
            call = (added["outbound"][basis] - added["trivial"][basis]) / 3
            passed = call <= 15.0
            ok = ok and passed
            print(
                f"  [{'PASS' if passed else 'MISS'}] each recorded outbound call ({basis}) "
                f"costs {call:.1f} µs <= 15 µs"
            )
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
    print(f"\n{args.rounds} rounds, {args.seconds} s per view per process; Python {sys.version.split()[0]}")
    summaries = {metric: summarise(rounds, configs, args.views, metric) for metric in METRICS}
    for metric, summary in summaries.items():
        print_table(summary, configs, metric)
    last = rounds[-1]["async_audit"].get("recorder")
    if last:
        print(
            f"\nasync-audit hooks installed: {', '.join(last['hooks'])}\n"
            f"last round: {last['records']} records, calls by kind {last['calls']}, lost {last['lost']}"
        )
    results = {metric: check_targets(summary, rounds, metric) for metric, summary in summaries.items()}
    results["paired"] = print_paired(rounds, summaries["median_us"])
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "summaries": summaries}, indent=1))
    return 0 if results["median_us"] else 1


if __name__ == "__main__":
    sys.exit(main())
