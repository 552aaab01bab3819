"""``async-audit demo``: the whole pipeline on the sample site, through real servers.

Starts the stand-in services (SMTP, CRM, payments, search, chat webhook) and the Ledgerly sample site under
gunicorn and uvicorn with the recorder installed, plays a realistic mix of traffic, stops everything, then
analyses the records and writes the HTML, Markdown and JSON reports and the task stubs. The sample site lives
in the repository (``sample_app/``), not in the wheel: the demo runs from a checkout.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from async_audit.analyze.model import Report
from async_audit.errors import UsageError

SAMPLE_APP_ENV = "ASYNC_AUDIT_SAMPLE_APP"
FORMATS = ("html", "md", "json")
WSGI_WORKERS = 3
WSGI_THREADS = 4


@dataclass
class DemoResult:
    """What the demo did and wrote."""

    report: Report
    out_dir: Path
    reports: list[Path]
    stubs: list[Path]
    requests: int
    statuses: dict[int, int]
    errors: list[str]
    received: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)  # per phase: site, analysis, writing


def default_out_dir() -> Path:
    """``reports/out/`` of the checkout the sample site belongs to."""
    return sample_app_dir().parent / "reports" / "out"


def sample_app_dir() -> Path:
    """The sample site: ``$ASYNC_AUDIT_SAMPLE_APP``, else ``sample_app/`` of this checkout."""
    configured = os.environ.get(SAMPLE_APP_ENV)
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[2] / "sample_app")
    for candidate in candidates:
        if (candidate / "runner.py").is_file() and (candidate / "manage.py").is_file():
            return candidate.resolve()
    raise UsageError(
        "the demo needs the sample site from a checkout of the async-audit repository "
        f"(or {SAMPLE_APP_ENV} pointing at its sample_app/ directory)"
    )


def _runner(site_dir: Path) -> Any:
    if str(site_dir) not in sys.path:
        sys.path.insert(0, str(site_dir))
    return importlib.import_module("runner")


def run_demo(
    out_dir: Path,
    *,
    steps: int = 240,
    duration: float = 45.0,
    concurrency: int = 4,
    seed: int = 0,
    backend: str = "django_tasks",
    fast: bool = False,
    latency: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the sample site under traffic with the recorder, then write reports and stubs into ``out_dir``.

    ``out_dir`` is emptied of a previous demo's output first (records, reports, stubs); nothing is written
    outside it. ``fast`` makes the stand-in services answer in milliseconds instead of realistic latencies;
    ``latency`` sets them per service (``services.Latency`` by service name, the rest realistic).
    """
    from async_audit.analyze import AnalysisOptions, build_report
    from async_audit.extract import attach_stubs, write_stubs
    from async_audit.report import write_reports
    from async_audit.scan import merge_static, scan_project

    phase = on_phase or (lambda name: None)
    site_dir = sample_app_dir()
    runner = _runner(site_dir)
    services = importlib.import_module("services")
    latencies = dict(services.FAST if fast else services.REALISTIC)
    latencies.update(latency or {})
    out_dir = Path(out_dir)
    records_dir = out_dir / "records"
    stubs_dir = out_dir / "stubs"
    for stale in (records_dir, stubs_dir):
        if stale.is_dir():
            shutil.rmtree(stale)
    out_dir.mkdir(parents=True, exist_ok=True)

    timings: dict[str, float] = {}
    started = time.monotonic()
    run = runner.play(
        records_dir,
        steps=steps,
        duration=duration,
        concurrency=concurrency,
        latency=latencies,
        seed=seed,
        wsgi_workers=WSGI_WORKERS,
        wsgi_threads=WSGI_THREADS,
        progress=progress,
        on_phase=phase,
    )
    timings["site"] = time.monotonic() - started

    phase("analysing")
    started = time.monotonic()
    options = AnalysisOptions(source_root=site_dir, workers=WSGI_WORKERS * WSGI_THREADS)
    report = merge_static(build_report([records_dir], options), scan_project(site_dir))
    report.title = "async-audit demo: Ledgerly"
    report.client = "Ledgerly (sample site)"
    attach_stubs(report, backend, site_dir)
    timings["analysis"] = time.monotonic() - started

    phase("writing")
    started = time.monotonic()
    reports = write_reports(report, out_dir, FORMATS)
    stubs = write_stubs(report, backend, stubs_dir, site_dir)
    timings["writing"] = time.monotonic() - started

    traffic = run.traffic
    return DemoResult(
        report=report,
        out_dir=out_dir,
        reports=reports,
        stubs=stubs,
        requests=traffic.total_requests,
        statuses=dict(sorted(traffic.statuses.items())),
        errors=list(traffic.errors),
        received=dict(run.received),
        seconds=timings,
    )
