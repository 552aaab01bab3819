"""``python -m benchmarks.load.faults``: disk and process faults while the recorded site is under load.

The site runs under gunicorn and uvicorn with its records on a small tmpfs mounted for the run (as root; else
a plain directory, and the faults that need the mount are skipped and said so), with ``SAMPLE_RATE`` 0.5 and
``QUEUE_SIZE`` 1 (the queue saturates all the time). Two clients drive it without pause while, one after
the other:

1. the records directory is deleted;
2. it turns read-only: its files are moved aside and the directory made immutable (``chattr +i``, which
   binds root too), then writable again;
3. the disk fills up: a ballast file takes every free byte of the tmpfs, then is deleted;
4. a gunicorn worker is killed with SIGKILL (gunicorn starts another).

Checked: every path kept one answer (status and body) throughout, client errors only from the killed worker's
connections, writing resumed after each fault, the losses (``lost.write``, ``lost.queue``, ``unsampled``)
were counted in the records and the loader's ``records_lost`` agrees, and every line written whole parses.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.load.__main__ import ROOT, SEARCH_INDEX, analyzer_view, check, count_records

PAUSE_S = 3.0


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[bool]:
    """A tmpfs of ``size`` mounted on ``path`` while the block runs; False when it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def immutable(paths: list[Path], on: bool) -> bool:
    flag = "+i" if on else "-i"
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    return done.returncode == 0


def start_client(url: str, plan: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.load.client",
            url,
            "--requests",
            "10000000",
            "--concurrency",
            "8",
            "--plan",
            plan,
            "--limit",
            str(seconds),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def gunicorn_workers(master: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    children.append(int(entry.name))
    return children


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl")) if directory.is_dir() else []


def read_only(
    mount: Path, records: Path, mounted: bool, figures: dict[str, Any], notes: list[str], failures: list[str]
) -> None:
    # tmpfs lets a descriptor opened before ``chattr +i`` go on writing: the files are moved aside
    # (copied, then removed, so each worker has to open a new one) and the directory made immutable.
    kept = mount / "kept"
    kept.mkdir()
    for path in files_in(records):
        shutil.copy2(path, kept / path.name)
        path.unlink()
    before = count_records(records)
    if mounted and immutable([records], True):
        time.sleep(PAUSE_S)
        immutable([records], False)
        time.sleep(PAUSE_S)
        after = count_records(records)
        figures["read_only"] = {"lost_write_reported": after["lost_write"] - before["lost_write"]}
        status = check(after["lost_write"] > before["lost_write"], "read-only losses reported", failures)
        print(
            f"  {status} read-only for {PAUSE_S:.0f} s: {after['lost_write'] - before['lost_write']} "
            "lost writes reported once writable again",
            flush=True,
        )
    else:
        notes.append("read-only: skipped (no tmpfs mount or chattr here)")


def disk_full(
    mount: Path, records: Path, mounted: bool, figures: dict[str, Any], notes: list[str], failures: list[str]
) -> None:
    if mounted:
        before = count_records(records)
        ballast = mount / "ballast.bin"
        with open(ballast, "wb") as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        time.sleep(PAUSE_S)
        ballast.unlink()
        time.sleep(PAUSE_S)
        after = count_records(records)
        gained = after["lost_write"] - before["lost_write"]
        figures["disk_full"] = {"lost_write_reported": gained}
        status = check(gained > 0, "disk-full losses reported", failures)
        print(
            f"  {status} disk full for {PAUSE_S:.0f} s: {gained} lost writes reported after",
            flush=True,
        )
    else:
        notes.append("disk full: skipped (no tmpfs mount: not root, or mount refused)")


def run_faults(workdir: Path, failures: list[str]) -> dict[str, Any]:
    """Run the scenario in ``workdir``; failed checks are appended to ``failures``; returns the figures."""
    sys.path.insert(0, str(ROOT / "sample_app"))
    from runner import Site
    from services import FAST, ServiceStack

    figures: dict[str, Any] = {}
    mount = workdir / "disk"
    records = mount / "records"
    print("\nFaults under load", flush=True)
    with small_tmpfs(mount, "4m") as mounted, ServiceStack(FAST, seed=1) as stack:
        stack.elasticsearch.indices.setdefault(SEARCH_INDEX, {})
        environ = {**stack.environ(), "ASYNC_AUDIT_SAMPLE_RATE": "0.5", "ASYNC_AUDIT_QUEUE_SIZE": "1"}
        site = Site(environ, workdir=workdir / "site", audit=True, audit_dir=records)
        notes: list[str] = []
        try:
            site.start()
            phases = 5 if mounted else 3
            seconds = PAUSE_S * (2 * phases + 1)
            clients = [
                start_client(site.wsgi_url, "wsgi", seconds),
                start_client(site.asgi_url, "asgi", seconds),
            ]
            time.sleep(PAUSE_S)

            shutil.rmtree(records)
            time.sleep(PAUSE_S)
            figures["recreated_after_delete"] = bool(files_in(records))
            status = check(
                figures["recreated_after_delete"], "records resume after the directory is deleted", failures
            )
            print(f"  {status} deleted the records directory: recreated, writing resumed", flush=True)

            read_only(mount, records, mounted, figures, notes, failures)
            disk_full(mount, records, mounted, figures, notes, failures)

            master = site.servers["gunicorn"].pid
            workers = gunicorn_workers(master)
            if workers:
                os.kill(workers[0], signal.SIGKILL)
            time.sleep(PAUSE_S)
            replaced = sorted(gunicorn_workers(master)) != sorted(workers)
            figures["sigkill_worker_replaced"] = replaced
            status = check(bool(workers) and replaced, "killed worker replaced", failures)
            print(
                f"  {status} SIGKILL to gunicorn worker {workers[:1]}: gunicorn started another", flush=True
            )

            results = []
            for client in clients:
                out, _ = client.communicate(timeout=seconds + 60)
                results.append(json.loads(out))
        finally:
            site.stop()

        answered = sum(r["answered"] for r in results)
        errors = sum(r["errors"] for r in results)
        answers: dict[str, Counter[str]] = {}
        for result in results:
            for path, seen in result["answers"].items():
                answers.setdefault(path, Counter()).update(seen)
        figures.update(
            answered=answered, client_errors=errors, answers={p: dict(c) for p, c in answers.items()}
        )
        same = all(len(seen) == 1 for seen in answers.values())
        status = check(same, "one answer per path under faults", failures)
        print(f"  {status} {answered} requests answered, each path always the same answer", flush=True)
        for path, seen in sorted(answers.items()):
            print(f"       {path}: {dict(seen)}")
        status = check(errors <= 16, "client errors only from the killed worker", failures)
        print(f"  {status} client errors: {errors} (the killed worker's open connections)")
        for result in results:
            for sample in result["error_samples"][:2]:
                print(f"       {sample}")

        counted = count_records(mount)  # the records directory and the files moved aside
        view = analyzer_view(mount)
        figures.update(records=counted, analyzer=view, notes=notes)
        print(
            f"  records: {counted['records']} whole, {counted['unparsable']} torn; "
            f"unsampled {counted['unsampled']}, "
            f"lost queue {counted['lost_queue']}, lost write {counted['lost_write']}"
        )
        status = check(counted["unparsable"] <= 1, "at most the killed worker's line torn", failures)
        print(f"  {status} every line written whole parses ({counted['unparsable']} torn)")
        lost = counted["lost_queue"] + counted["lost_write"]
        status = check(
            view["records_lost"] == lost and view["skipped_lines"] == counted["unparsable"],
            "loader",
            failures,
        )
        print(
            f"  {status} the report's records_lost {view['records_lost']} = lost in the records {lost}; "
            f"loader skipped {view['skipped_lines']}"
        )
        status = check(counted["lost_queue"] > 0 and counted["unsampled"] > 0, "queue and sampling", failures)
        print(f"  {status} the saturated queue and sampling are counted")
        accounted = counted["records"] + counted["unsampled"] + lost
        # Losses no later record could carry (the disk still failing at exit) are logged by each process.
        at_exit = sum(
            int(match.group(1))
            for log in (workdir / "site").glob("*.log")
            for match in re.finditer(r"async-audit lost (\d+) record", log.read_text(errors="replace"))
        )
        figures["lost_at_exit_logged"] = at_exit
        print(f"       lost at exit and logged (no later record could carry them): {at_exit}")
        figures["unaccounted"] = answered - accounted
        print(
            f"       accounted {accounted} of {answered}; the {answered - accounted} others were in the "
            "deleted directory or in the killed worker's buffer"
        )
        for note in notes:
            print(f"  note: {note}")
    return figures


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="async-audit-faults-"))
    failures: list[str] = []
    try:
        run_faults(base, failures)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("\n" + ("all checks passed" if not failures else "FAILED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
