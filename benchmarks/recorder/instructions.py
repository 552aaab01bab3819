"""Instructions the recorder adds per request, counted by valgrind: a figure that machine load does not move.

    .venv/bin/python -m benchmarks.recorder.instructions                     # outbound and trivial
    .venv/bin/python -m benchmarks.recorder.instructions --views email --low 100 --high 400
    .venv/bin/python -m benchmarks.recorder.instructions --request-only     # without the writer's work

For each view and each state of the recorder (on, off: installed but disabled, as in the on/off pairs of
``python -m benchmarks.recorder``), one process runs N requests through the benchmark site's WSGI callable
under ``valgrind --tool=cachegrind``, for N = ``--low`` and N = ``--high``; the instructions per request are
the slope between the two, so start-up and warm-up cancel out. The cycle collector is paused after the
warm-up and hash randomisation is off, so a run gives the same count each time within a fraction of a
percent. The writer thread's work (building and encoding each record) is counted, as it is the same
process, unless ``--request-only`` drops the records unbuilt; the servers are not counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.recorder.worker import VIEWS, configure, environ_for, one_request, prepare_database

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
ROOT = Path(__file__).resolve().parents[2]


def child(view: str, mode: str, n: int, smtp_port: int, request_only: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="async-audit-instructions-") as tmp:
        configure("async_audit", Path(tmp), smtp_port)
        from django.core.wsgi import get_wsgi_application

        app = get_wsgi_application()
        prepare_database("async_audit")
        from async_audit import conf
        from async_audit.record.sink import get_sink

        on = conf.get_config()
        conf._config = on if mode == "on" else dataclasses.replace(on, enabled=False)
        template = environ_for(f"/{view}/")
        for _ in range(100):
            one_request(app, template)
        get_sink().flush(30)
        if request_only:
            from async_audit.record import recorder

            recorder.emit = lambda record: None  # type: ignore[assignment] - records dropped unbuilt
        gc.collect()
        gc.disable()
        for _ in range(n):
            one_request(app, template)
        get_sink().flush(30)


def count(view: str, mode: str, n: int, smtp_port: int, request_only: bool) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "benchmarks.recorder.instructions",
            "--child",
            view,
            mode,
            str(n),
            str(smtp_port),
            "1" if request_only else "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    match = _REFS.search(result.stderr)
    if result.returncode != 0 or match is None:
        tail = result.stderr.strip()[-500:]
        raise SystemExit(f"error: the {view} run ({mode}, {n} requests) failed: {tail}")
    return int(match.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--views", default="outbound,trivial")
    parser.add_argument("--low", type=int, default=100)
    parser.add_argument("--high", type=int, default=400)
    parser.add_argument(
        "--request-only", action="store_true", help="drop the records unbuilt: the request thread only"
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        view, mode, n, smtp, request_only = args.child
        child(view, mode, int(n), int(smtp), request_only == "1")
        return
    views = args.views.split(",")
    if unknown := [v for v in views if v not in VIEWS]:
        parser.exit(2, f"error: unknown view {unknown[0]!r} (choose from {', '.join(VIEWS)})\n")
    if not 0 < args.low < args.high:
        parser.exit(2, "error: --low must be positive and below --high\n")
    if shutil.which("valgrind") is None:
        parser.exit(2, "error: valgrind is not installed (Debian: apt-get install valgrind)\n")
    servers = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.recorder.servers"],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert servers.stdout is not None
        ports = json.loads(servers.stdout.readline())
        os.environ["BENCH_HTTP_PORT"] = str(ports["http"])
        span = args.high - args.low
        python = sys.version.split()[0]
        print(f"instructions per request (slope from {args.low} to {args.high} requests), Python {python}")
        for view in views:
            per = {}
            for mode in ("off", "on"):
                low = count(view, mode, args.low, ports["smtp"], args.request_only)
                high = count(view, mode, args.high, ports["smtp"], args.request_only)
                per[mode] = (high - low) / span
            added = per["on"] - per["off"]
            print(
                f"  {view:9} off {per['off']:>12,.0f}  on {per['on']:>12,.0f}  added {added:>10,.0f}"
                f"  ({added / per['off']:.1%})",
                flush=True,
            )
    finally:
        if servers.stdin is not None:
            servers.stdin.close()
        servers.wait(10)


if __name__ == "__main__":
    main()
