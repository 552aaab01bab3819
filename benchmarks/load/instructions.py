"""Instructions the recorder adds per request inside a real gunicorn worker, counted by valgrind.

    .venv/bin/python -m benchmarks.load.instructions                       # gunicorn, 200 and 1,000 requests
    .venv/bin/python -m benchmarks.load.instructions --server uvicorn
    .venv/bin/python -m benchmarks.load.instructions --low 100 --high 600

The load benchmark's CPU time per request moves by 10 to 15 % from run to run on a shared machine, more than
the recorder costs. This counts instead: the sample site under gunicorn (one gthread worker, four threads,
``--preload``) or uvicorn (one process), the stand-in services on loopback, its Python processes under
``valgrind --tool=cachegrind``, driven by the load benchmark's client with its request mix (the home page, a
404, a directory search with its Elasticsearch call). The worker's (or uvicorn's) instructions are read when
it exits; the figure per request is the slope
between ``--low`` and ``--high`` requests (start-up and the site's lazy imports cancel out), for the site
without the recorder (not installed) and with it. Everything the worker does counts: gunicorn's own work, the
request threads, the recorder's writer thread and the thread switches between them. Timing-dependent work (the
writer wakes every 100 ms, and valgrind slows the worker about fifty times) makes the figure move by tens of
thousands of instructions from run to run: run it twice. About 3 minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.load.__main__ import SEARCH_INDEX, run_client

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = ROOT / "sample_app"
if str(SAMPLE_APP) not in sys.path:
    sys.path.insert(0, str(SAMPLE_APP))

from runner import Site  # noqa: E402 - sample_app/ on sys.path first
from services import FAST, ServiceStack  # noqa: E402

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
_WARM_UP = 50


def worker_instructions(server: str, audit: bool, requests: int, base: Path) -> int:
    """The instructions of the process serving the requests over its life (gunicorn's worker, or uvicorn),
    after ``requests`` requests and 50 of warm-up."""
    logs = base / f"logs-{'on' if audit else 'off'}-{requests}"
    logs.mkdir(parents=True)
    python = base / f"python-{logs.name}"
    python.write_text(
        "#!/bin/sh\n"
        "exec valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null"
        f' --log-file="{logs}/%p" "{sys.executable}" "$@"\n'
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    with ServiceStack(FAST, seed=0) as stack:
        stack.elasticsearch.indices.setdefault(SEARCH_INDEX, {})
        site = Site(
            {**stack.environ(), "PYTHONHASHSEED": "0"},
            workdir=base / logs.name,
            audit=audit,
            asgi=server == "uvicorn",
            wsgi_workers=1,
            wsgi_threads=4,
            python=str(python),
            startup_timeout=600,
        )
        site.start()
        try:
            if server == "uvicorn":
                serving, url, plan = [str(site.servers["uvicorn"].pid)], site.asgi_url, "asgi"
            else:
                master = site.servers["gunicorn"].pid
                serving = subprocess.run(
                    ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
                ).stdout.split()
                url, plan = site.wsgi_url, "wsgi"
            run_client(url, _WARM_UP, 4, plan, 600)
            result = run_client(url, requests, 16, plan, 1800)
        finally:
            site.stop(timeout=120)
    if len(serving) != 1 or result["answered"] != requests or result["errors"]:
        raise SystemExit(f"error: the run went wrong (processes {serving}, answers {result['answered']})")
    match = _REFS.search((logs / serving[0]).read_text())
    if match is None:
        raise SystemExit(f"error: valgrind gave no count for the worker (see {logs})")
    if audit:
        # The writer's work counts only for records it wrote: a record still buffered when the worker's exit
        # gave up flushing (valgrind slows it fifty times) would make the recorder look cheaper than it is.
        written = sum(len(path.read_bytes().splitlines()) for path in site.audit_dir.glob("*.jsonl"))
        if written != requests + _WARM_UP:
            raise SystemExit(f"error: {written} records written for {requests + _WARM_UP} requests")
    return int(match.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--server", choices=["gunicorn", "uvicorn"], default="gunicorn")
    parser.add_argument("--low", type=int, default=200)
    parser.add_argument("--high", type=int, default=1000)
    args = parser.parse_args(argv)
    if not 0 < args.low < args.high:
        parser.exit(2, "error: --low must be positive and below --high\n")
    if shutil.which("valgrind") is None:
        parser.exit(2, "error: valgrind is not installed (Debian: apt-get install valgrind)\n")
    os.chdir(ROOT)
    base = Path(tempfile.mkdtemp(prefix="async-audit-server-instructions-"))
    try:
        runs = [(audit, n) for audit in (False, True) for n in (args.low, args.high)]
        with ThreadPoolExecutor(2) as pool:  # valgrind runs one core each
            made = pool.map(lambda run: worker_instructions(args.server, *run, base), runs)
            counts = dict(zip(runs, made, strict=True))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    span = args.high - args.low
    per = {audit: (counts[(audit, args.high)] - counts[(audit, args.low)]) / span for audit in (False, True)}
    added = per[True] - per[False]
    python = sys.version.split()[0]
    who = "gunicorn worker" if args.server == "gunicorn" else "uvicorn"
    print(f"{who} instructions per request (slope from {args.low} to {args.high}), Python {python}")
    print(
        f"  without {per[False]:>12,.0f}  with {per[True]:>12,.0f}  added {added:>10,.0f}"
        f"  ({added / per[False]:.1%})"
    )


if __name__ == "__main__":
    main()
