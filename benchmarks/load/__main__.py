"""``python -m benchmarks.load``: the sample site under real servers and real concurrency, with and without
the recorder.

Two copies of the Ledgerly site run side by side on loopback, each under gunicorn (gthread, several workers
and threads) and uvicorn (ASGI): one with the recorder, one without it (``LEDGERLY_AUDIT=0``: not installed at
all). The stand-in services answer at once (``services.FAST``) and the requests are light (the home page, a
404, a directory search with its outbound call), so the servers are the bottleneck. Each round drives every
(server, recorder on/off) pair with the same number of requests from a client process, in an order that
alternates from round to round; the throughput figures are medians over rounds. Beside throughput, the CPU
time the server's processes used (gunicorn's master and workers, or uvicorn) is read from ``/proc`` around
each timed run: the servers are CPU-bound, so CPU per request is what sets their throughput, and unlike
requests per second it does not count the time other tenants of a shared machine held the cores.

Then the recorded site is stopped (its workers flush at exit) and the records are checked: every file
parses, and records + ``unsampled`` + ``lost`` equals the number of requests the client got an answer for.
``--faults`` then runs the fault scenario (``benchmarks/load/faults.py``). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = ROOT / "sample_app"
if str(SAMPLE_APP) not in sys.path:
    sys.path.insert(0, str(SAMPLE_APP))

from runner import Site  # noqa: E402 - sample_app/ on sys.path first
from services import FAST, ServiceStack  # noqa: E402

SEARCH_INDEX = "ledgerly-businesses"
# A recorder problem shows in a server log as one of these; the site's own 404s are logged at WARNING only.
LOG_PROBLEMS = re.compile(r"Traceback|async-audit could not|async-audit lost|async_audit|Error", re.I)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every process under it, from ``/proc`` (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        # The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
        fields = text[text.rindex(")") + 2 :].split()
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        cpu[child] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(cpu.get(p, 0.0) for p in tree)


def run_client(url: str, requests: int, concurrency: int, plan: str, limit: float) -> dict[str, Any]:
    """One client run in its own process; its JSON result."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load.client",
            url,
            "--requests",
            str(requests),
            "--concurrency",
            str(concurrency),
            "--plan",
            plan,
            "--limit",
            str(limit),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=limit + 60,
    )
    if done.returncode != 0:
        raise SystemExit(f"load client failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def count_records(directory: Path) -> dict[str, int]:
    """Lines, whole records, torn lines and the recorder's own counts, read line by line with ``json``."""
    totals = Counter(files=0, lines=0, records=0, unparsable=0, unsampled=0, lost_queue=0, lost_write=0)
    for path in sorted(directory.rglob("*.jsonl")):
        totals["files"] += 1
        for line in path.read_bytes().splitlines():
            totals["lines"] += 1
            try:
                record = json.loads(line)
            except ValueError:
                totals["unparsable"] += 1
                continue
            totals["records"] += 1
            totals["unsampled"] += record["unsampled"]
            totals["lost_queue"] += record["lost"]["queue"]
            totals["lost_write"] += record["lost"]["write"]
    return dict(totals)


def analyzer_view(directory: Path) -> dict[str, Any]:
    """What the loader and the analyzer make of the directory (the report's ``sources``)."""
    from async_audit.analyze import AnalysisOptions, build_report

    report = build_report([directory], AnalysisOptions())
    sources = report.sources
    return {
        "records": sources.records,
        "skipped_lines": sources.skipped_lines,
        "records_lost": sources.records_lost,
        "requests_unsampled": sources.requests_unsampled,
        "endpoints": len(report.endpoints),
    }


def log_problems(site_dir: Path) -> list[str]:
    lines = []
    for log in sorted(site_dir.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if LOG_PROBLEMS.search(line) and "Not Found" not in line:
                lines.append(f"{log.name}: {line}")
    return lines


def merge_answers(into: dict[str, Counter[str]], answers: dict[str, dict[str, int]]) -> None:
    for path, seen in answers.items():
        into.setdefault(path, Counter()).update(seen)


def check(ok: bool, label: str, failures: list[str]) -> str:
    if not ok:
        failures.append(label)
    return "ok  " if ok else "FAIL"


@dataclass
class Tally:
    """What the client runs saw, across rounds."""

    rps: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    # The servers' CPU time per answered request, in microseconds, per timed run.
    cpu_us: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    answers: dict[str, dict[str, Counter[str]]] = field(default_factory=lambda: {"on": {}, "off": {}})
    rounds: list[dict[str, Any]] = field(default_factory=list)
    answered_on: int = 0  # every request the recorded site answered, warm-ups included
    errors: int = 0

    def add(self, mode: str, result: dict[str, Any]) -> None:
        self.errors += result["errors"]
        if mode == "on":
            self.answered_on += result["answered"]


def drive_rounds(sites: dict[str, Site], args: argparse.Namespace) -> Tally:
    tally = Tally()
    pairs = [(server, mode) for server in ("wsgi", "asgi") for mode in ("off", "on")]

    def url(server: str, mode: str) -> str:
        return sites[mode].wsgi_url if server == "wsgi" else sites[mode].asgi_url

    def pid(server: str, mode: str) -> int:
        return sites[mode].servers["gunicorn" if server == "wsgi" else "uvicorn"].pid

    # Warm both sites up (imports, template caches, connections) before anything is timed.
    for server, mode in pairs:
        tally.add(mode, run_client(url(server, mode), 500, args.concurrency, server, args.limit))
    print(
        f"{args.rounds} rounds x {len(pairs)} runs x {args.requests} requests, "
        f"{args.concurrency} connections; gunicorn {args.workers} workers x {args.threads} threads, "
        "uvicorn 1 process",
        flush=True,
    )
    for number in range(args.rounds):
        order = pairs if number % 2 == 0 else [(s, "on" if m == "off" else "off") for s, m in pairs]
        row: dict[str, Any] = {}
        for server, mode in order:
            # A short untimed run first: whichever site ran second in a pair used to come out faster
            # (workers woken, connections spread), whatever the recorder did.
            tally.add(mode, run_client(url(server, mode), args.warmup, args.concurrency, server, args.limit))
            cpu_before = tree_cpu_seconds(pid(server, mode))
            result = run_client(url(server, mode), args.requests, args.concurrency, server, args.limit)
            cpu = tree_cpu_seconds(pid(server, mode)) - cpu_before
            result["server_cpu_us"] = cpu * 1e6 / max(1, result["answered"])
            tally.add(mode, result)
            tally.rps.setdefault((server, mode), []).append(result["rps"])
            tally.cpu_us.setdefault((server, mode), []).append(result["server_cpu_us"])
            merge_answers(tally.answers[mode], result["answers"])
            row[f"{server}-{mode}"] = {k: result[k] for k in ("answered", "errors", "rps", "server_cpu_us")}
            if result["errors"]:
                print(f"  client errors: {result['error_samples']}", flush=True)
        tally.rounds.append(row)
        print(
            f"  round {number + 1}: "
            + ", ".join(f"{key} {value['rps']:.0f} req/s" for key, value in row.items()),
            flush=True,
        )
    return tally


def median_interval(ratios: list[float], resamples: int = 2000) -> tuple[float, float]:
    """A 90 % bootstrap interval of the median of ``ratios`` (seeded: the same figures give the same
    interval): how far this run's median could be from the one a longer run would find."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return medians[int(resamples * 0.05)], medians[int(resamples * 0.95) - 1]


def throughput(tally: Tally, max_loss: float, figures: dict[str, Any], failures: list[str]) -> None:
    """The throughput targets, on the servers' CPU time per request and on requests per second.

    Checked on each round's on/off pair (they ran back to back): the median of the per-round ratios shrugs
    off drift that the ratio of two medians over the whole run does not. Both measures must be within
    ``max_loss``.
    """
    print("\nThroughput (median over rounds; ratios: median of the per-round on/off ratios)")
    for server in ("wsgi", "asgi"):
        name = "gunicorn (WSGI)" if server == "wsgi" else "uvicorn (ASGI)"
        off = statistics.median(tally.rps[(server, "off")])
        on = statistics.median(tally.rps[(server, "on")])
        pairs = zip(tally.rps[(server, "on")], tally.rps[(server, "off")], strict=True)
        ratios = [a / b for a, b in pairs]
        paired = statistics.median(ratios)
        cpu_off = statistics.median(tally.cpu_us[(server, "off")])
        cpu_on = statistics.median(tally.cpu_us[(server, "on")])
        # Capacity with the recorder over capacity without it: CPU per request without over CPU with.
        cpu_pairs = zip(tally.cpu_us[(server, "off")], tally.cpu_us[(server, "on")], strict=True)
        cpu_ratios = [a / b for a, b in cpu_pairs]
        cpu_paired = statistics.median(cpu_ratios)
        low, high = median_interval(ratios)
        cpu_low, cpu_high = median_interval(cpu_ratios)
        figures[server] = {
            "median_rps_off": off,
            "median_rps_on": on,
            "ratio": on / off,
            "paired_ratio": paired,
            "median_server_cpu_us_off": cpu_off,
            "median_server_cpu_us_on": cpu_on,
            "cpu_paired_ratio": cpu_paired,
            "paired_ratio_interval_90": [low, high],
            "cpu_paired_ratio_interval_90": [cpu_low, cpu_high],
        }
        status = check(paired >= 1 - max_loss, f"{server} throughput ratio {paired:.3f}", failures)
        print(
            f"  {status} {name:16} requests/s  without {off:8.0f}  with {on:8.0f}  "
            f"ratio {paired:.3f} (of the medians {on / off:.3f}; 90 % interval {low:.3f} to {high:.3f})"
        )
        status = check(cpu_paired >= 1 - max_loss, f"{server} CPU capacity ratio {cpu_paired:.3f}", failures)
        print(
            f"  {status} {name:16} server CPU µs per request  without {cpu_off:5.0f}  with {cpu_on:5.0f}  "
            f"capacity ratio {cpu_paired:.3f} (90 % interval {cpu_low:.3f} to {cpu_high:.3f})"
        )
    total = sum(v["answered"] for r in tally.rounds for v in r.values())
    figures["timed_requests"] = total
    print(
        f"\nRequests: {total} timed ({tally.answered_on} to the recorded site, warm-ups included); "
        f"client errors {tally.errors}"
    )
    check(tally.errors == 0, "client errors", failures)
    check(total >= 20_000, "at least 20,000 requests", failures)
    same = all(
        set(tally.answers["on"].get(path, {})) == set(seen) and len(seen) == 1
        for path, seen in tally.answers["off"].items()
    )
    status = check(same, "identical answers", failures)
    print(f"  {status} every path answered identically with and without the recorder")
    for path, seen in sorted(tally.answers["on"].items()):
        print(f"       {path}: {dict(seen)}")


def accounting(audit_dir: Path, answered: int, figures: dict[str, Any], failures: list[str]) -> None:
    counted = count_records(audit_dir)
    accounted = counted["records"] + counted["unsampled"] + counted["lost_queue"] + counted["lost_write"]
    figures["records"] = counted
    figures["answered_recorded_site"] = answered
    print(
        f"\nRecords: {counted['files']} files, {counted['records']} records, "
        f"{counted['unparsable']} unparsable lines, unsampled {counted['unsampled']}, "
        f"lost queue {counted['lost_queue']}, lost write {counted['lost_write']}"
    )
    status = check(counted["unparsable"] == 0, "unparsable lines", failures)
    print(f"  {status} every line of every file parses")
    status = check(accounted == answered, "accounting", failures)
    print(f"  {status} records + unsampled + lost = {accounted}; answered by the recorded site = {answered}")
    view = analyzer_view(audit_dir)
    figures["analyzer"] = view
    status = check(view["records"] == counted["records"] and view["skipped_lines"] == 0, "loader", failures)
    print(
        f"  {status} loader: {view['records']} records, {view['skipped_lines']} skipped, "
        f"records_lost {view['records_lost']}, unsampled {view['requests_unsampled']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=700, help="per (round, server, recorder on/off)")
    parser.add_argument("--warmup", type=int, default=150, help="untimed requests before each timed run")
    parser.add_argument("--concurrency", type=int, default=16, help="client connections")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds at most per client run")
    parser.add_argument("--max-ratio-loss", type=float, default=0.05, help="allowed throughput loss")
    parser.add_argument("--faults", action="store_true", help="then run the fault scenario")
    parser.add_argument("--keep", action="store_true", help="keep the records and logs")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="async-audit-load-"))
    failures: list[str] = []
    figures: dict[str, Any] = {}
    try:
        with ServiceStack(FAST, seed=0) as stack:
            # The directory's index exists, so a search is a plain outbound call that succeeds.
            stack.elasticsearch.indices.setdefault(SEARCH_INDEX, {})
            options = {"workers": args.workers, "threads": args.threads}
            sites = {
                mode: Site(
                    stack.environ(),
                    workdir=base / mode,
                    audit=mode == "on",
                    wsgi_workers=options["workers"],
                    wsgi_threads=options["threads"],
                )
                for mode in ("on", "off")
            }
            try:
                for site in sites.values():
                    site.start()
                tally = drive_rounds(sites, args)
            finally:
                for site in sites.values():
                    site.stop()  # the recorded site's workers write what they hold as they exit
        figures["rounds"] = tally.rounds
        throughput(tally, args.max_ratio_loss, figures, failures)
        accounting(sites["on"].audit_dir, tally.answered_on, figures, failures)
        problems = log_problems(base / "on")
        status = check(not problems, "server logs", failures)
        print(f"  {status} no recorder error in the servers' logs ({len(problems)} suspicious lines)")
        for line in problems[:10]:
            print(f"       {line}")
        if args.faults:
            from benchmarks.load.faults import run_faults

            figures["faults"] = run_faults(base / "faults", failures)
    finally:
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, default=str))
        if args.keep:
            print(f"\nkept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print("\n" + ("all checks passed" if not failures else "FAILED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(status)
