"""``python manage.py async_audit <command> ...``: the ``async-audit`` command line inside a site.

The same click group runs with the site's settings loaded; ``report`` reads the site's ``OUTPUT_DIR`` when
no ``SOURCE`` is given. From ``manage.py`` the arguments go to click untouched (click, not argparse, parses
them, so ``--help`` and the error messages are the command line's own); from ``call_command`` an exit
status other than 0 becomes a ``CommandError`` carrying it.
"""

from __future__ import annotations

import argparse
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import click
from django.core.management.base import BaseCommand, CommandError, CommandParser

from async_audit.cli import CliState, cli

# Django's own options that manage.py has already applied before the command runs.
_DJANGO_OPTIONS = ("--settings", "--pythonpath")


def _state() -> CliState:
    from async_audit.conf import get_config

    return CliState(default_sources=(str(get_config().output_dir),))


def _without_django_options(argv: list[str]) -> list[str]:
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _DJANGO_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in _DJANGO_OPTIONS)):
            args.append(arg)
    return args


class Command(BaseCommand):
    help = "The async-audit command line with this site's settings: report, budgets, ... (see --help)."
    # The command reads files and writes reports; it needs neither the system checks nor the database.
    requires_system_checks: Any = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, help="An async-audit command and its options.")

    def run_from_argv(self, argv: list[str]) -> None:
        # argv is ["manage.py", "async_audit", ...]: hand the rest to click, which exits with its status.
        cli.main(
            args=_without_django_options(argv[2:]),
            prog_name=f"{argv[0]} {argv[1]}",
            obj=_state(),
        )

    def handle(self, *args: str, **options: Any) -> None:
        # click writes whole lines itself: Django's wrappers must not add a line end to every write.
        self.stdout.ending = self.stderr.ending = ""
        with redirect_stdout(self.stdout), redirect_stderr(self.stderr):  # type: ignore[type-var]
            try:
                status = cli.main(
                    args=list(args), prog_name="async_audit", obj=_state(), standalone_mode=False
                )
            except click.ClickException as exc:
                exc.show()
                raise CommandError(exc.format_message(), returncode=exc.exit_code) from None
            except click.exceptions.Abort:
                raise CommandError("aborted", returncode=1) from None
        if isinstance(status, int) and status != 0:
            raise CommandError(f"async-audit exited with status {status}", returncode=status)
