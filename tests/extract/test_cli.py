"""``async-audit stubs``: from recorded requests to task modules, commands and one patch."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from async_audit.cli import cli
from tests.extract.conftest import line_of


def write_records(path: Path, line: int, requests: int = 20) -> Path:
    """Recordings of a signup that sends its welcome email inside the request."""
    site = {"file": "accounts/views.py", "line": line, "function": "signup"}
    with path.open("w") as f:
        for i in range(requests):
            call = {
                "kind": "email", "lib": "django.mail", "via": None, "t": 100.0, "ms": 900.0 + i,
                "parent": None, "atomic": True, "site": site, "stack": [site], "error": None,
                "backend": "django.core.mail.backends.smtp.EmailBackend", "messages": 1, "recipients": 1,
            }  # fmt: skip
            record = {
                "v": 1, "id": f"{i:016x}", "ts": 1764300000.0 + i, "host": "web-1", "pid": 42,
                "proto": "wsgi",
                "method": "POST", "route": "signup/", "view": "accounts.views.signup", "status": 302,
                "ms": 1500.0 + i, "cpu_ms": 20.0, "db": {"n": 5, "ms": 10.0}, "dropped": 0, "unsampled": 0,
                "lost": {"queue": 0, "write": 0}, "calls": [call],
            }  # fmt: skip
            f.write(json.dumps(record) + "\n")
    return path


def test_stubs_writes_the_tasks_the_commands_and_the_patch(shop: Path, tmp_path: Path) -> None:
    records = write_records(
        tmp_path / "records.jsonl", line_of(shop / "accounts" / "views.py", "# the welcome email")
    )
    out = tmp_path / "stubs"

    result = CliRunner().invoke(
        cli, ["stubs", str(records), "--backend", "rq", "--source-root", str(shop), "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    printed = {Path(line).relative_to(out.resolve()).as_posix() for line in result.stdout.splitlines()}
    assert {
        "accounts/tasks.py",
        "accounts/management/commands/run_signup_send_mail.py",
        "call-sites.patch",
    } <= printed
    patch = (out / "call-sites.patch").read_text()
    assert "+from .tasks import signup_send_mail" in patch
    assert (
        "+        transaction.on_commit(partial(signup_send_mail.delay, team_id=team.pk, user_id=user.pk))"
        in patch
    )
    assert "@job(" in (out / "accounts" / "tasks.py").read_text()


def test_stubs_without_source_writes_snippets_and_warns_about_inline_backends(tmp_path: Path) -> None:
    records = write_records(tmp_path / "records.jsonl", 41)
    out = tmp_path / "stubs"

    result = CliRunner().invoke(cli, ["stubs", str(records), "--backend", "django", "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert (out / "call-sites.patch").read_text() == ""
    assert "the source was not given" in (out / "call-sites-by-hand.py.txt").read_text()
    assert (
        "def signup_email(subject: str, message: str, recipient_list: list[str])"
        in (out / "accounts" / "tasks.py").read_text()
    )


def test_stubs_detects_the_backend_and_warns_when_it_runs_inline(shop: Path, tmp_path: Path) -> None:
    (shop / "shop" / "settings.py").write_text(
        'INSTALLED_APPS = ["accounts", "huey.contrib.djhuey"]\nDEBUG = True\nHUEY = {"name": "shop"}\n'
    )
    records = write_records(
        tmp_path / "records.jsonl", line_of(shop / "accounts" / "views.py", "# the welcome email")
    )

    result = CliRunner().invoke(
        cli, ["stubs", str(records), "--source-root", str(shop), "--out", str(tmp_path / "o")]
    )

    assert result.exit_code == 0, result.output
    assert "@db_task(" in (tmp_path / "o" / "accounts" / "tasks.py").read_text()
    assert "Warning: HUEY['immediate'] is not set, so it follows DEBUG, which is True here" in result.stderr


def test_stubs_refuses_an_unknown_backend(tmp_path: Path) -> None:
    records = write_records(tmp_path / "records.jsonl", 41)

    result = CliRunner().invoke(cli, ["stubs", str(records), "--backend", "sidekiq"])

    assert result.exit_code == 2
    assert "sidekiq" in result.output
