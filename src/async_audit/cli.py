"""The command line, ``async-audit``: thin commands over the library functions.

Each command is one small function: parse, call the library, write the output. Options several commands
share are decorators defined once here (``@report_options``, ``@budget_options``, ...), so a new command
takes them the same way. Exit codes: 0 success; 1 a finding at or above ``--fail-on``; 2 bad usage or bad
input, with one line on stderr and no traceback (every :class:`~async_audit.errors.InputError` and
:class:`~async_audit.errors.UsageError` a library function raises ends up that way).

``python manage.py async_audit ...`` runs the same group inside a site (:mod:`async_audit.management`).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from async_audit.analyze.model import Budgets, Report, Severity
from async_audit.errors import InputError, UsageError

if TYPE_CHECKING:
    from async_audit.analyze import AnalysisOptions

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FINDINGS = 1
EXIT_USAGE = 2

#: Where ``report`` writes when ``--out`` is not given.
DEFAULT_OUT = "async-audit-report"
#: ``--backend`` names: the stub generators' own, and ``django`` for Django's tasks framework.
BACKEND_ALIASES = {"django": "django_tasks"}


class CommandError(click.ClickException):
    """A user error: ``Error: <one line>`` on stderr, exit 2."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class CliState:
    """What the caller of the group sets up: ``manage.py async_audit`` makes the site's ``OUTPUT_DIR`` the
    default ``SOURCE``."""

    default_sources: tuple[str, ...] = ()


class AuditGroup(click.Group):
    """Turns async-audit's own input and usage errors into one line and exit 2, in every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (InputError, UsageError) as exc:
            raise CommandError(str(exc)) from None


@click.group(cls=AuditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="async-audit", prog_name="async-audit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Find the slow, non-interactive work inside a Django site's requests, measure it against timeout
    budgets, and write the background tasks to move it out."""
    if not isinstance(ctx.obj, CliState):
        ctx.obj = CliState()


def main(argv: Sequence[str] | None = None) -> None:
    """The ``async-audit`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="async-audit")


# Shared options ------------------------------------------------------------------------------------------


def _duration(_ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from async_audit.analyze import parse_duration

    try:
        return parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


sources_argument = click.argument("sources", metavar="SOURCE...", nargs=-1, type=str)

out_option = click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Directory to write into (created).",
)


formats_option = click.option(
    "--format",
    "-f",
    "formats",
    multiple=True,
    type=click.Choice(["html", "md", "json", "csv", "sarif"]),
    help="Report format; repeat for several. Default: all of them.",
)

budget_options = _compose(
    click.option(
        "--budget",
        callback=_duration,
        metavar="DURATION",
        help="Platform request timeout, like 30s or 60s. Default: 30s (see `async-audit budgets`).",
    ),
    click.option(
        "--user-budget",
        callback=_duration,
        metavar="DURATION",
        help="User-perceived target for p95, like 1s or 800ms. Default: 1s.",
    ),
)

workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Web worker processes (threads) serving the site, for the capacity figures.",
)

backend_option = click.option(
    "--backend",
    type=click.Choice(["django", "django_tasks", "celery", "rq", "dramatiq", "huey", "django_q"]),
    help="Task backend of the stubs. Default: the one the site runs (from --source-root), else django.",
)

source_root_option = click.option(
    "--source-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The project's source tree: its code decides interactivity, and reports show the call sites.",
)

templates_option = click.option(
    "--templates",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory of templates that override the packaged ones (any single template or partial).",
)

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rules and settings file. Default: async-audit.toml or pyproject.toml in --source-root.",
)

fail_on_option = click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity]),
    help="Exit with status 1 when a finding reaches this severity (for CI).",
)

naming_options = _compose(
    click.option("--title", help="The report's title."),
    click.option("--client", help="Who the report is for."),
)

#: Every option that shapes a written report; a command that writes reports takes them all.
report_options = _compose(
    out_option,
    formats_option,
    budget_options,
    workers_option,
    backend_option,
    source_root_option,
    templates_option,
    config_option,
    fail_on_option,
    naming_options,
)


# Helpers shared by the commands ----------------------------------------------------------------------------


def resolve_sources(ctx: click.Context, sources: Sequence[str]) -> list[str]:
    """The ``SOURCE`` arguments, else the caller's default (a site's ``OUTPUT_DIR``), else a usage error."""
    if sources:
        return list(sources)
    state = ctx.find_object(CliState)
    if state is not None and state.default_sources:
        return list(state.default_sources)
    raise click.UsageError("give at least one SOURCE: a record file, a directory of them, or a glob", ctx)


def analysis_options(
    budget: float | None,
    user_budget: float | None,
    workers: int | None,
    source_root: Path | None,
    config_file: Path | None,
) -> AnalysisOptions:
    """Options from the command line; budgets not given are left to the project's config or the defaults."""
    from async_audit.analyze import AnalysisOptions

    budgets = Budgets()
    if budget is not None:
        budgets = dataclasses.replace(budgets, platform_ms=budget, platform_name="--budget")
    if user_budget is not None:
        budgets = dataclasses.replace(budgets, user_ms=user_budget)
    return AnalysisOptions(budgets=budgets, workers=workers, source_root=source_root, config_file=config_file)


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


class _Progress:
    """``progress(done, total)`` callbacks shown as one progress bar on stderr."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=max(total, 1), label=self.label, file=sys.stderr, width=30)
            self.bar.__enter__()
        self.bar.update(max(done - self.done, 0))
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing on stderr when a person watches it (a TTY); None otherwise."""
    if not _stderr_is_tty():
        yield None
        return
    bar = _Progress(label)
    try:
        yield bar
    finally:
        bar.close()


def fail_on_exit(report: Report, fail_on: str | None) -> None:
    """Exit 1 when a finding reaches ``fail_on`` (after the reports are written)."""
    if fail_on is None:
        return
    threshold = Severity(fail_on)
    reached = [f for f in report.findings if f.severity >= threshold]
    if reached:
        noun = "finding" if len(reached) == 1 else "findings"
        click.echo(f"{len(reached)} {noun} at or above {threshold.value} severity", err=True)
        raise click.exceptions.Exit(EXIT_FINDINGS)


def summary_line(report: Report) -> str:
    """One line for stderr: what the report found."""
    counts = {s: sum(1 for f in report.findings if f.severity is s) for s in Severity}
    worst = ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items(), key=lambda i: -i[0].rank) if n)
    requests = sum(e.count for e in report.endpoints)
    return (
        f"{len(report.findings)} findings ({worst or 'none'}) over {requests:,} requests "
        f"to {len(report.endpoints)} endpoints"
    )


# Commands ------------------------------------------------------------------------------------------------


@cli.command()
@sources_argument
@report_options
@click.pass_context
def report(
    ctx: click.Context,
    sources: tuple[str, ...],
    out: Path,
    formats: tuple[str, ...],
    budget: float | None,
    user_budget: float | None,
    workers: int | None,
    backend: str | None,
    source_root: Path | None,
    templates: Path | None,
    config_file: Path | None,
    fail_on: str | None,
    title: str | None,
    client: str | None,
) -> None:
    """Analyse recorded requests and write the report.

    SOURCE is a record file (.jsonl), a directory of them, or a glob; give several to combine them.
    """
    from async_audit.analyze import build_report
    from async_audit.extract import attach_stubs
    from async_audit.report import DEFAULT_FORMATS, write_reports

    paths = resolve_sources(ctx, sources)
    options = analysis_options(budget, user_budget, workers, source_root, config_file)
    with progress("Loading records") as on_progress:
        result = build_report(paths, options, progress=on_progress)
    if source_root is not None:
        # With the source at hand, the static scan confirms measured findings and adds what never ran.
        from async_audit.scan import merge_static, scan_project

        result = merge_static(result, scan_project(source_root, config_file=config_file))
    backend = BACKEND_ALIASES.get(backend, backend) if backend else None
    attach_stubs(result, backend, source_root, templates)
    if title:
        result.title = title
    if client:
        result.client = client
    for path in write_reports(result, out, formats or DEFAULT_FORMATS, templates):
        click.echo(path)
    click.echo(summary_line(result), err=True)
    fail_on_exit(result, fail_on)


@cli.command()
@click.argument("source_root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@out_option
@formats_option
@backend_option
@templates_option
@config_option
@fail_on_option
@naming_options
@click.option(
    "--max-depth",
    type=click.IntRange(min=1, max=50),
    default=8,
    show_default=True,
    help="Calls followed from each entry point (views, receivers, saves) into the project's helpers.",
)
def scan(
    source_root: Path,
    out: Path,
    formats: tuple[str, ...],
    backend: str | None,
    templates: Path | None,
    config_file: Path | None,
    fail_on: str | None,
    title: str | None,
    client: str | None,
    max_depth: int,
) -> None:
    """Find slow calls in a Django project's source, without running it, and write the report.

    SOURCE_ROOT is the project's directory (the one holding manage.py); findings are marked static.
    """
    from async_audit.extract import attach_stubs
    from async_audit.report import DEFAULT_FORMATS, write_reports
    from async_audit.scan import scan_project

    with progress("Scanning source") as on_progress:
        result = scan_project(source_root, config_file=config_file, progress=on_progress, max_depth=max_depth)
    backend = BACKEND_ALIASES.get(backend, backend) if backend else None
    attach_stubs(result, backend, source_root, templates)
    result.title = title or "async-audit static scan"
    if client:
        result.client = client
    for path in write_reports(result, out, formats or DEFAULT_FORMATS, templates):
        click.echo(path)
    click.echo(f"{len(result.findings)} static findings in {result.sources.files} files", err=True)
    fail_on_exit(result, fail_on)


@cli.command()
@sources_argument
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default="async-audit-stubs",
    show_default=True,
    help="Directory to write the task modules, management commands and patch into (created).",
)
@backend_option
@source_root_option
@templates_option
@config_option
@click.pass_context
def stubs(
    ctx: click.Context,
    sources: tuple[str, ...],
    out: Path,
    backend: str | None,
    source_root: Path | None,
    templates: Path | None,
    config_file: Path | None,
) -> None:
    """Write a background task for every defer and batch finding: the task modules, a management command
    per task, and one patch of the call-site changes (git apply).

    SOURCE is a record file (.jsonl), a directory of them, or a glob. With --source-root the call sites are
    read and rewritten; without it, each task comes with a snippet to apply by hand.
    """
    from async_audit.analyze import build_report
    from async_audit.extract import DEFAULT_BACKEND, detect_backend, inline_backend_warning, write_stubs

    paths = resolve_sources(ctx, sources)
    options = analysis_options(None, None, None, source_root, config_file)
    with progress("Loading records") as on_progress:
        result = build_report(paths, options, progress=on_progress)
    chosen = BACKEND_ALIASES.get(backend, backend) if backend else None
    if chosen is None:
        chosen = (detect_backend(source_root) if source_root is not None else None) or DEFAULT_BACKEND
    for path in write_stubs(result, chosen, out, source_root, templates):
        click.echo(path)
    warning = inline_backend_warning(source_root, chosen) if source_root is not None else None
    if warning:
        click.echo(f"Warning: {warning}", err=True)


@cli.command("import-silk")
@click.argument("database", required=False)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default="silk-records.jsonl",
    show_default=True,
    help="Record file to write (JSON Lines), for `async-audit report`.",
)
@click.option(
    "--slow-sql-ms",
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    help="Statements at least this slow become `sql` calls (every statement counts in the request's db).",
)
@click.option("--settings", "settings_module", help="The site's settings module: routes from its URLconf.")
@click.option("--urlconf", help="The site's URLconf module, when its settings cannot be loaded here.")
@click.option(
    "--project-root",
    help="The project's directory on the host silk ran on; file paths are made relative to it.",
)
def import_silk_command(
    database: str | None,
    out: Path,
    slow_sql_ms: float,
    settings_module: str | None,
    urlconf: str | None,
    project_root: str | None,
) -> None:
    """Turn the requests django-silk recorded into record files, for a site that already runs silk.

    DATABASE is the SQLite file or the postgresql:// URL silk writes to. Inside a site (manage.py
    async_audit import-silk) it defaults to the site's own silk database, and routes come from its URLconf.
    """
    from async_audit import silk

    state = click.get_current_context().find_object(CliState)
    in_site = state is not None and bool(state.default_sources)  # manage.py: the site's settings are loaded
    if database is None:
        if not in_site:
            raise click.UsageError("give DATABASE: silk's SQLite file or a postgresql:// URL")
        stats = silk.import_silk_django(out, slow_sql_ms=slow_sql_ms)
    else:
        resolver = silk.django_resolver(settings_module, urlconf) if settings_module or urlconf else None
        if resolver is None and in_site:
            resolver = silk.site_resolver()
        stats = silk.import_silk(
            database, out, slow_sql_ms=slow_sql_ms, project_root=project_root, resolver=resolver
        )
    click.echo(stats.out)
    click.echo(stats.summary(), err=True)
    for note in stats.notes:
        click.echo(f"Note: {note}", err=True)


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the records, reports and stubs go  [default: reports/out/ of the checkout]",
)
@click.option(
    "--steps", type=click.IntRange(min=0), default=240, show_default=True, help="Traffic steps to play."
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=45.0,
    show_default=True,
    help="Seconds of traffic at most.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the traffic mix and the latencies."
)
@click.option("--fast", is_flag=True, help="Stand-in services answer in milliseconds (a quick smoke run).")
def demo(out: Path | None, steps: int, duration: float, seed: int, fast: bool) -> None:
    """Run the sample site under real servers with the recorder, drive traffic, and write the reports.

    Starts a local SMTP server and stand-ins for a CRM, Stripe, Elasticsearch and Slack on 127.0.0.1, the
    Ledgerly sample site under gunicorn and uvicorn, plays a realistic mix of requests, stops everything,
    then writes the HTML, Markdown and JSON reports and the task stubs.
    """
    from async_audit.demo import default_out_dir, run_demo

    out_dir = out if out is not None else default_out_dir()
    with progress("Traffic") as on_progress:
        result = run_demo(
            out_dir,
            steps=steps,
            duration=duration,
            seed=seed,
            fast=fast,
            progress=on_progress,
            on_phase=lambda name: click.echo(f"{name.capitalize()}...", err=True),
        )
    statuses = ", ".join(f"{code}: {n}" for code, n in result.statuses.items())
    click.echo(
        f"{result.requests} requests ({statuses}); services received "
        + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in result.received.items())
    )
    for error in result.errors[:5]:
        click.echo(f"  traffic error: {error}", err=True)
    click.echo(summary_line(result.report))
    top = [f for f in result.report.findings if f.kind.value in ("defer", "batch")][:3]
    for finding in top:
        where = f"{finding.site.file}:{finding.site.line}" if finding.site.file else "(no call site)"
        click.echo(
            f"  {finding.priority}. {finding.kind.value} {finding.category.value} at {where} "
            f"on {finding.method} {finding.route}: saves {finding.savings_ms_per_request:,.0f} ms per request"
        )
    click.echo(f"Stubs: {len(result.stubs)} files in {out_dir / 'stubs'}")
    phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result.seconds.items())
    click.echo(f"Took {sum(result.seconds.values()):.0f} s ({phases})")
    html = next((p for p in result.reports if p.suffix == ".html"), None)
    click.echo(f"Open: {html or out_dir}")


@cli.command()
def budgets() -> None:
    """List the request timeouts of common platforms, with their sources."""
    from async_audit.analyze import KNOWN_BUDGETS
    from async_audit.report.formatting import fmt_ms

    defaults = Budgets()
    click.echo(
        f"Defaults: --budget {fmt_ms(defaults.platform_ms)} ({defaults.platform_name}), "
        f"--user-budget {fmt_ms(defaults.user_ms)} at p{defaults.user_percentile:g}."
    )
    width = max(len(b.name) for b in KNOWN_BUDGETS)
    for known in KNOWN_BUDGETS:
        limit = fmt_ms(known.seconds * 1_000) if known.seconds is not None else "none"
        click.echo("")
        click.echo(f"{known.name:<{width}}  {limit:>7}  {known.applies_to}")
        if known.note:
            click.echo(f"{'':<{width}}  {'':>7}  {known.note}")
        click.echo(f"{'':<{width}}  {'':>7}  {known.source}")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
