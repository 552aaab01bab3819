"""One configuration in one process: configure Django, build the WSGI application, time each view.

Run by ``python -m benchmarks.recorder`` (one process per configuration per round, so every configuration
gets its own settings and a clean interpreter); prints one JSON line with the timings.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CONFIGS = ("none", "async_audit", "silk", "silk+async_audit", "otel")
VIEWS = ("trivial", "queries", "outbound", "email")
HERE = Path(__file__).resolve().parent

# The middleware a new project gets from ``startproject``: what an existing site most likely runs.
BASE_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


def configure(config: str, workdir: Path, smtp_port: int) -> None:
    from django.conf import settings

    apps = [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django.contrib.sessions",
        "django.contrib.messages",
        "benchmarks.recorder",
    ]
    middleware = list(BASE_MIDDLEWARE)
    extra: dict[str, Any] = {}
    if config in ("silk", "silk+async_audit"):  # both: async-audit first, silk right after it
        apps.append("silk")
        middleware.insert(0, "silk.middleware.SilkyMiddleware")
    if config in ("async_audit", "silk+async_audit"):
        apps.append("async_audit")
        middleware.insert(0, "async_audit.middleware.AuditMiddleware")
        extra["ASYNC_AUDIT"] = {"OUTPUT_DIR": str(workdir / "records"), "PROJECT_ROOTS": [str(HERE)]}
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="benchmarks.recorder.urls",
        INSTALLED_APPS=apps,
        MIDDLEWARE=middleware,
        # Persistent connections, as most production sites run: the view's cost is its queries, not a connect.
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(workdir / "db.sqlite3"),
                "CONN_MAX_AGE": None,
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        USE_TZ=True,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=smtp_port,
        EMAIL_TIMEOUT=5,
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": []},
            }
        ],
        **extra,
    )
    if config == "otel":
        _instrument_otel()


def _instrument_otel() -> None:
    from collections.abc import Sequence

    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class NoopExporter(SpanExporter):
        """Drops spans: the cost measured is the instrumentation's, not a collector's network."""

        def __init__(self) -> None:
            self.exported = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.exported += len(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()  # adds its middleware to settings.MIDDLEWARE
    RequestsInstrumentor().instrument()


def prepare_database(config: str) -> None:
    from benchmarks.recorder.models import Item
    from django.core.management import call_command
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.create_model(Item)
    if config in ("silk", "silk+async_audit"):
        call_command("migrate", "silk", verbosity=0)
    Item.objects.bulk_create([Item(name=f"item {i}", price=i) for i in range(1, 11)])


def environ_for(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "async-audit-benchmark",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def one_request(app: App, template: dict[str, Any]) -> tuple[int, int, str]:
    """One request through the WSGI callable (the call, the body, ``close()``): wall and thread CPU ns."""
    status: list[str] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(s)
        return lambda data: None

    environ = dict(template)
    environ["wsgi.input"] = io.BytesIO(b"")
    cpu = time.thread_time_ns()
    start = time.perf_counter_ns()
    result = app(environ, start_response)
    try:
        for _chunk in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    wall = time.perf_counter_ns() - start
    return wall, time.thread_time_ns() - cpu, status[0]


def measure(app: App, path: str, warmup: int, min_n: int, max_n: int, seconds: float) -> dict[str, Any]:
    template = environ_for(path)
    for _ in range(warmup):
        _, _, status = one_request(app, template)
        if not status.startswith("200"):
            raise SystemExit(f"{path} answered {status}")
    walls: list[int] = []
    cpus: list[int] = []
    began = time.perf_counter()
    process_cpu = time.process_time_ns()
    deadline = began + seconds
    while len(walls) < max_n and (len(walls) < min_n or time.perf_counter() < deadline):
        wall, cpu, status = one_request(app, template)
        walls.append(wall)
        cpus.append(cpu)
    process_cpu = time.process_time_ns() - process_cpu
    elapsed = time.perf_counter() - began
    n = len(walls)
    return {
        "n": n,
        "median_us": statistics.median(walls) / 1000,
        "mean_us": statistics.fmean(walls) / 1000,
        # CPU time is what the request cost the machine, whoever else was running on it: on a shared
        # machine it is far steadier than wall time, which counts the time other processes held the core.
        "cpu_median_us": statistics.median(cpus) / 1000,
        # All threads of the process (a record writer, a span exporter) over the run, per request.
        "process_cpu_us": process_cpu / n / 1000,
        "wall_us": elapsed * 1e6 / n,
        "status": status,
    }


def paired(app: App, path: str, pairs: int) -> dict[str, Any]:
    """The recorder on and off in turns, request by request, in this one process.

    Both halves of a pair meet the same machine state (whatever else the machine runs at that moment), so
    the per-pair difference resolves microseconds that differences between processes drown. Off means
    installed but disabled: the middleware and every hook fall through, which this does not count.
    """
    import dataclasses

    from async_audit import conf

    on = conf.get_config()
    off = dataclasses.replace(on, enabled=False)
    template = environ_for(path)
    wall_diffs: list[int] = []
    cpu_diffs: list[int] = []
    try:
        for i in range(pairs):
            # Alternate which half goes first, so neither is always the one that warms the caches.
            order = (on, off) if i % 2 == 0 else (off, on)
            results = {}
            for config in order:
                conf._config = config
                results[config.enabled] = one_request(app, template)
            wall_diffs.append(results[True][0] - results[False][0])
            cpu_diffs.append(results[True][1] - results[False][1])
    finally:
        conf._config = on
    return {
        "pairs": pairs,
        "added_wall_us": statistics.median(wall_diffs) / 1000,
        "added_cpu_us": statistics.median(cpu_diffs) / 1000,
    }


def recorder_summary(workdir: Path) -> dict[str, Any]:
    from async_audit.record.hooks import installed_hooks
    from async_audit.record.sink import get_sink

    sink = get_sink()
    sink.flush(30)
    records = 0
    calls: dict[str, int] = {}
    lost = {"queue": 0, "write": 0}
    for path in (workdir / "records").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            records += 1
            lost["queue"] += record["lost"]["queue"]
            lost["write"] += record["lost"]["write"]
            for call in record["calls"]:
                calls[call["kind"]] = calls.get(call["kind"], 0) + 1
    lost["queue"] += sink.lost_queue
    lost["write"] += sink.lost_write
    return {"hooks": installed_hooks(), "records": records, "calls": calls, "lost": lost}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", choices=CONFIGS, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--views", default=",".join(VIEWS))
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--min-n", type=int, default=100)
    parser.add_argument("--max-n", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=2000, help="on/off pairs for the trivial view")
    args = parser.parse_args(argv)
    sys.setswitchinterval(0.005)

    with tempfile.TemporaryDirectory(prefix="async-audit-bench-") as tmp:
        workdir = Path(tmp)
        configure(args.config, workdir, args.smtp_port)
        from django.core.wsgi import get_wsgi_application

        app = get_wsgi_application()
        prepare_database(args.config)
        out: dict[str, Any] = {"config": args.config, "pid": os.getpid(), "views": {}}
        for view in args.views.split(","):
            out["views"][view] = measure(app, f"/{view}/", args.warmup, args.min_n, args.max_n, args.seconds)
        if args.config == "async_audit":
            out["paired"] = {
                view: paired(app, f"/{view}/", args.pairs if view == "trivial" else max(100, args.pairs // 4))
                for view in args.views.split(",")
            }
            out["recorder"] = recorder_summary(workdir)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
