"""Run the Ledgerly site under real servers and play traffic at it.

``Site`` migrates a fresh SQLite database and starts the site under gunicorn (WSGI, several workers and
threads) and uvicorn (ASGI), each on an ephemeral loopback port, with the stand-in services' addresses in
its environment. ``drive`` plays a weighted mix of what Ledgerly's users do, from a small thread pool, and
``play`` does it all: services, site, traffic, clean stop.

Import with ``sample_app/`` on ``sys.path`` (``import runner``), as the services are imported as ``services``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from services import REALISTIC, Latency, ServiceStack
from traffic import DEFAULT_MIX, Progress, TrafficResult, drive, tour

SAMPLE_APP_DIR = Path(__file__).resolve().parent

__all__ = [
    "DEFAULT_MIX",
    "SAMPLE_APP_DIR",
    "Run",
    "Server",
    "Site",
    "SiteError",
    "TrafficResult",
    "drive",
    "play",
    "running_site",
    "tour",
]


class SiteError(RuntimeError):
    """The site could not be migrated or started; the message holds the tail of its log."""


@dataclass
class Server:
    """One server process (gunicorn's master, or uvicorn) listening on ``url``."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Site:
    """The Ledgerly site under gunicorn and uvicorn, on loopback, with its own SQLite database.

    ``environ`` is added to the servers' environment: the services' addresses
    (:meth:`services.ServiceStack.environ`) and anything else. ``audit`` turns the async-audit recorder on
    (its records go to ``audit_dir``). ``app_dir`` runs another copy of the site (a patched one) instead of
    this one; ``db_worker`` also starts django-tasks-db's ``manage.py db_worker`` (for a copy whose settings
    queue tasks in the database), stopped with the servers. Everything is stopped by :meth:`stop`, also when
    starting failed; a ``workdir`` this class created is removed then too, unless ``keep_workdir``.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        workdir: Path | None = None,
        audit: bool = True,
        audit_dir: Path | None = None,
        wsgi_workers: int = 3,
        wsgi_threads: int = 4,
        asgi: bool = True,
        python: str | None = None,
        startup_timeout: float = 60.0,
        keep_workdir: bool = False,
        app_dir: Path | None = None,
        db_worker: bool = False,
    ) -> None:
        self.environ = dict(environ or {})
        self.app_dir = Path(app_dir).resolve() if app_dir is not None else SAMPLE_APP_DIR
        self.db_worker = db_worker
        self.audit = audit
        self.wsgi_workers = wsgi_workers
        self.wsgi_threads = wsgi_threads
        self.asgi = asgi
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout
        self._own_workdir = workdir is None
        self.keep_workdir = keep_workdir
        self._workdir = Path(workdir) if workdir is not None else None
        self._audit_dir = Path(audit_dir) if audit_dir is not None else None
        self.servers: dict[str, Server] = {}

    @property
    def workdir(self) -> Path:
        """The database and the server logs (and the records, unless ``audit_dir`` says otherwise)."""
        if self._workdir is None:
            # Made on first use, so a Site that is never started leaves nothing behind.
            self._workdir = Path(tempfile.mkdtemp(prefix="ledgerly-"))
        return self._workdir

    @property
    def audit_dir(self) -> Path:
        return self._audit_dir if self._audit_dir is not None else self.workdir / "audit"

    # Addresses

    @property
    def wsgi_url(self) -> str:
        return self._server("gunicorn").url

    @property
    def asgi_url(self) -> str:
        return self._server("uvicorn").url

    @property
    def database_path(self) -> Path:
        return self.workdir / "ledgerly.sqlite3"

    def _server(self, name: str) -> Server:
        try:
            return self.servers[name]
        except KeyError:
            raise SiteError(f"{name} is not running") from None

    # Lifecycle

    def start(self) -> None:
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.audit_dir.mkdir(parents=True, exist_ok=True)
            self.migrate()
            self._spawn(
                "gunicorn",
                lambda fd: [
                    "-m", "gunicorn", "ledgerly.wsgi:application",
                    "--bind", f"fd://{fd}",
                    "--worker-class", "gthread",
                    "--workers", str(self.wsgi_workers),
                    "--threads", str(self.wsgi_threads),
                    "--preload",  # import the site once, then fork: the workers boot at once
                    "--timeout", "60",
                    "--graceful-timeout", "10",
                    "--log-level", "warning",
                ],
            )  # fmt: skip
            if self.asgi:
                self._spawn(
                    "uvicorn",
                    lambda fd: [
                        "-m", "uvicorn", "ledgerly.asgi:application",
                        "--fd", str(fd),
                        "--lifespan", "off",
                        "--log-level", "warning",
                        "--no-access-log",
                        "--timeout-graceful-shutdown", "10",
                    ],
                )  # fmt: skip
            for server in self.servers.values():
                self._wait_ready(server)
            if self.db_worker:
                self._spawn_worker()
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every server (SIGTERM, then SIGKILL for its whole process group) and wait for them."""
        servers, self.servers = list(self.servers.values()), {}
        try:
            for server in servers:
                _terminate(server.process, timeout)
        finally:
            # Also when a second Ctrl-C cut the graceful stop short: nothing may outlive the site.
            for server in servers:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(server.pid, signal.SIGKILL)
                if server._log is not None:
                    server._log.close()
        # A workdir we made goes away, unless it holds the audit records: they are the point of a run.
        workdir = self._workdir
        if workdir is None or not self._own_workdir or self.keep_workdir:
            return
        if not (self.audit and self.audit_dir.resolve().is_relative_to(workdir.resolve())):
            shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> Site:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Steps

    def env(self) -> dict[str, str]:
        pythonpath = os.pathsep.join(p for p in (str(self.app_dir), os.environ.get("PYTHONPATH", "")) if p)
        return {
            **os.environ,
            **self.environ,
            "DJANGO_SETTINGS_MODULE": "ledgerly.settings",
            "PYTHONPATH": pythonpath,
            "PYTHONUNBUFFERED": "1",
            "LEDGERLY_VAR_DIR": str(self.workdir),
            "LEDGERLY_DATABASE_PATH": str(self.database_path),
            "LEDGERLY_AUDIT": "1" if self.audit else "0",
            "ASYNC_AUDIT_OUTPUT_DIR": str(self.audit_dir),
            "LEDGERLY_FAST_PASSWORD_HASHER": self.environ.get("LEDGERLY_FAST_PASSWORD_HASHER", "1"),
        }

    def manage(self, *args: str, timeout: float = 120.0) -> str:
        """Run ``manage.py`` with the site's environment; returns its output, raises SiteError on failure."""
        result = subprocess.run(
            [self.python, "manage.py", *args],
            cwd=self.app_dir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise SiteError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def migrate(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        # Write-ahead logging lets readers in other workers go on while one writes; it persists in the file.
        with contextlib.closing(sqlite3.connect(self.database_path)) as db:
            db.execute("PRAGMA journal_mode=WAL")

    def _spawn(self, name: str, arguments: Callable[[int], list[str]]) -> None:
        # Bind here and hand the listening socket down: the port is known before the server starts, and
        # nothing can take it in between.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            port = sock.getsockname()[1]
            fd = sock.fileno()
            os.set_inheritable(fd, True)
            log_path = self.workdir / f"{name}.log"
            log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
            try:
                process = subprocess.Popen(
                    [self.python, *arguments(fd)],
                    cwd=self.app_dir,
                    env=self.env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(fd,),
                    start_new_session=True,  # its own process group: stop() can reach every worker
                )
            except BaseException:
                log.close()
                raise
        finally:
            sock.close()
        self.servers[name] = Server(name, process, f"http://127.0.0.1:{port}", log_path, log)

    def _spawn_worker(self) -> None:
        # Polls often and starts at once: a test waits for what the worker does.
        log_path = self.workdir / "db_worker.log"
        command = ["manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"]
        log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            process = subprocess.Popen(
                [self.python, *command],
                cwd=self.app_dir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped by process group like the servers
            )
        except BaseException:
            log.close()
            raise
        self.servers["db_worker"] = Server("db_worker", process, "", log_path, log)

    def _wait_ready(self, server: Server) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not server.alive():
                raise SiteError(
                    f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                with urllib.request.urlopen(server.url + "/healthz/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise SiteError(
            f"{server.name} was not ready after {self.startup_timeout:.0f}s:\n{server.log_tail()}"
        )


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    pgid = process.pid  # start_new_session: the server leads its own process group
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Anything left in the group (a worker whose master died, a master that would not stop) is killed.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    return process.returncode


@contextlib.contextmanager
def running_site(environ: Mapping[str, str] | None = None, **options: object) -> Iterator[Site]:
    """``with running_site(stack.environ()) as site:`` for :class:`Site` with the same options."""
    site = Site(environ, **options)  # type: ignore[arg-type]
    with site:
        yield site


@dataclass
class Run:
    """What :func:`play` did: the traffic, where the records are, and what the services received."""

    traffic: TrafficResult
    audit_dir: Path
    received: dict[str, int]
    seconds: float


def play(
    audit_dir: Path,
    *,
    steps: int | None = 300,
    duration: float | None = 60.0,
    concurrency: int = 4,
    latency: Mapping[str, Latency] | None = None,
    seed: int = 0,
    wsgi_workers: int = 3,
    wsgi_threads: int = 4,
    tour_first: bool = True,
    progress: Progress | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> Run:
    """Start the services and the site with the recorder on, play traffic, stop everything; records stay.

    ``latency`` defaults to :data:`services.REALISTIC`. With ``tour_first`` one user first plays every step
    once (:func:`traffic.tour`), so every planted case is recorded however short the mix. ``on_phase`` hears
    ``"starting"``, ``"traffic"`` and ``"stopping"``; ``progress`` as in :func:`traffic.drive`.
    """
    phase = on_phase or (lambda name: None)
    started = time.monotonic()
    audit_dir = Path(audit_dir)
    with ServiceStack(REALISTIC if latency is None else latency, seed=seed) as stack:
        phase("starting")
        site = Site(
            stack.environ(),
            audit=True,
            audit_dir=audit_dir,
            wsgi_workers=wsgi_workers,
            wsgi_threads=wsgi_threads,
        )
        with site:
            phase("traffic")
            result = TrafficResult()
            if tour_first:
                result = tour(site.wsgi_url, site.asgi_url, seed=seed)
            if steps != 0:
                mixed = drive(
                    site.wsgi_url,
                    site.asgi_url,
                    steps=steps,
                    duration=duration,
                    concurrency=concurrency,
                    seed=seed,
                    progress=progress,
                )
                result = _merged(result, mixed)
            phase("stopping")
        received = {
            "emails": stack.smtp.count,
            "crm_contacts": len(stack.crm.contacts),
            "crm_deals": len(stack.crm.deals),
            "crm_events": len(stack.crm.events),
            "payments": len(stack.stripe.succeeded),
            "search_documents": sum(len(docs) for docs in stack.elasticsearch.indices.values()),
            "slack_messages": len(stack.slack.messages),
        }
    return Run(result, audit_dir, received, time.monotonic() - started)


def _merged(first: TrafficResult, second: TrafficResult) -> TrafficResult:
    return TrafficResult(
        steps=first.steps + second.steps,
        requests=first.requests + second.requests,
        statuses=first.statuses + second.statuses,
        errors=first.errors + second.errors,
        seconds=first.seconds + second.seconds,
    )


def main(argv: list[str] | None = None) -> int:
    """``python sample_app/runner.py``: run the site under traffic and say what happened."""
    import argparse

    from services import FAST

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, default=SAMPLE_APP_DIR / "var" / "audit", help="where records go")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds at most")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fast", action="store_true", help="services answer in milliseconds")
    args = parser.parse_args(argv)

    def show(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            print(f"  {done}/{total} steps", flush=True)

    run = play(
        args.out,
        steps=args.steps,
        duration=args.duration,
        concurrency=args.concurrency,
        latency=FAST if args.fast else None,
        seed=args.seed,
        progress=show,
        on_phase=lambda name: print(f"{name}...", flush=True),
    )
    traffic = run.traffic
    print(
        f"{traffic.total_steps} steps, {traffic.total_requests} requests in {traffic.seconds:.1f}s "
        f"({run.seconds:.1f}s with start and stop); statuses {dict(sorted(traffic.statuses.items()))}"
    )
    print("services received: " + ", ".join(f"{k} {v}" for k, v in run.received.items()))
    for error in traffic.errors[:10]:
        print(f"  error: {error}")
    print(f"records: {run.audit_dir}")
    return 0 if traffic.ok else 1


if __name__ == "__main__":
    sys.exit(main())
