"""The command line through click's runner (every command, every error path), and once as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from async_audit import cli as cli_module
from async_audit.cli import cli, main

SHOP = {"file": "shop/views.py", "line": 10, "function": "checkout"}


def _record(n: int, ms: float, calls: list[dict[str, Any]], route: str = "shop/checkout/") -> dict[str, Any]:
    return {
        "v": 1, "id": f"{n:016x}", "ts": 1_764_300_000.0 + n * 30, "host": "web-1", "pid": 100,
        "proto": "wsgi", "method": "POST", "route": route, "view": "shop.views.checkout", "status": 200,
        "ms": ms, "cpu_ms": 1.0, "db": {"n": 1, "ms": 1.0}, "dropped": 0, "unsampled": 0,
        "lost": {"queue": 0, "write": 0}, "calls": calls,
    }  # fmt: skip


def _email(t: float, ms: float) -> dict[str, Any]:
    return {
        "kind": "email", "lib": "django.mail", "via": None, "t": t, "ms": ms, "parent": None, "atomic": False,
        "site": SHOP, "stack": [SHOP], "error": None,
        "backend": "django.core.mail.backends.smtp.EmailBackend", "messages": 1, "recipients": 1,
    }  # fmt: skip


@pytest.fixture
def records(tmp_path: Path) -> Path:
    """A record file: 30 checkouts, each sending a slow email before the response."""
    path = tmp_path / "records" / "async-audit-web-1-100-1.jsonl"
    path.parent.mkdir()
    lines = [json.dumps(_record(n, 1_400.0 + n, [_email(100.0, 1_000.0 + n)])) for n in range(30)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _run(runner: CliRunner, *args: str | Path) -> Result:
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _one_line_error(result: Result, contains: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and contains in lines[-1], result.stderr


def test_help_and_version(runner: CliRunner) -> None:
    result = _run(runner, "--help")
    assert result.exit_code == 0
    assert "report" in result.output and "budgets" in result.output
    assert _run(runner, "report", "-h").exit_code == 0
    version = _run(runner, "--version")
    assert version.exit_code == 0 and "async-audit" in version.output


def test_report_writes_every_format(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(runner, "report", records.parent, "--out", out, "--title", "Shop audit", "--client", "Acme")
    assert result.exit_code == 0, result.output
    written = result.stdout.split()
    assert [Path(p).suffix for p in written] == [".html", ".md", ".json", ".csv", ".sarif"]
    assert all(Path(p).parent == out and Path(p).is_file() for p in written)
    assert "findings" in result.stderr and "over 30 requests to 1 endpoints" in result.stderr
    data = json.loads((out / "async-audit-report.json").read_text())
    assert data["schema"] == 1
    assert data["title"] == "Shop audit" and data["client"] == "Acme"
    (email,) = [f for f in data["findings"] if f["kind"] == "defer"]
    assert email["category"] == "email" and email["site"]["file"] == "shop/views.py"
    assert email["stub"]["backend"] == "django_tasks"  # nothing to detect it from: Django's own tasks
    assert "<svg" in (out / "async-audit-report.html").read_text()


def test_formats_budgets_workers_and_backend(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    result = _run(
        runner, "report", records, "-o", tmp_path, "-f", "json", "--format", "sarif",
        "--budget", "60s", "--user-budget", "500ms", "--workers", "4", "--backend", "celery",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("async-audit-report.*")) == [
        "async-audit-report.json",
        "async-audit-report.sarif",
    ]
    data = json.loads((tmp_path / "async-audit-report.json").read_text())
    assert data["budgets"]["platform_ms"] == 60_000 and data["budgets"]["user_ms"] == 500
    assert data["capacity"]["workers"] == 4
    assert {f["stub"]["backend"] for f in data["findings"] if f["stub"]} == {"celery"}


def test_django_is_the_django_tasks_backend(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    result = _run(runner, "report", records, "-o", tmp_path, "-f", "json", "--backend", "django")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "async-audit-report.json").read_text())
    assert {f["stub"]["backend"] for f in data["findings"] if f["stub"]} == {"django_tasks"}


def test_source_root_and_config(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "views.py").write_text(
        "from django.core.mail import send_mail\n\n\n" + "".join(f"# {n}\n" for n in range(5))
        + "def checkout(request):\n    send_mail('Receipt', 'Thanks', None, ['a@example.com'])\n"
    )  # fmt: skip
    config = tmp_path / "async-audit.toml"
    config.write_text('budget = "45s"\n')
    result = _run(
        runner, "report", records, "-o", tmp_path / "out", "-f", "json", "-f", "md",
        "--source-root", root, "--config", config,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "async-audit-report.json").read_text())
    assert data["sources"]["source_root"] == str(root)
    assert data["budgets"]["platform_ms"] == 45_000  # from the config: --budget was not given
    markdown = (tmp_path / "out" / "async-audit-report.md").read_text()
    assert "send_mail('Receipt'" in markdown  # the call site's line, read from --source-root


def test_templates_override(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates" / "report"
    templates.mkdir(parents=True)
    (templates / "report.md").write_text("# Globex audit of {{ report.endpoints | length }} endpoint(s)\n")
    result = _run(
        runner, "report", records, "-o", tmp_path / "out", "-f", "md", "--templates", templates.parent
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "async-audit-report.md").read_text() == "# Globex audit of 1 endpoint(s)\n"


def test_fail_on(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    failed = _run(runner, "report", records, "-o", tmp_path, "-f", "json", "--fail-on", "info")
    assert failed.exit_code == 1
    assert "at or above info severity" in failed.stderr
    assert (tmp_path / "async-audit-report.json").is_file()  # the report is written before the gate
    data = json.loads((tmp_path / "async-audit-report.json").read_text())
    worst = max(["info", "low", "medium", "high", "critical"].index(f["severity"]) for f in data["findings"])
    above = ["info", "low", "medium", "high", "critical"][worst + 1] if worst < 4 else None
    if above is not None:
        passed = _run(runner, "report", records, "-o", tmp_path, "-f", "json", "--fail-on", above)
        assert passed.exit_code == 0, passed.output


def test_progress_on_a_terminal(
    runner: CliRunner, records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = _run(runner, "report", records, "-o", tmp_path, "-f", "json")
    assert "Loading records" not in quiet.stderr
    monkeypatch.setattr(cli_module, "_stderr_is_tty", lambda: True)
    shown = _run(runner, "report", records, "-o", tmp_path, "-f", "json")
    assert shown.exit_code == 0
    assert "Loading records" in shown.stderr


def test_budgets(runner: CliRunner) -> None:
    from async_audit.analyze import KNOWN_BUDGETS

    result = _run(runner, "budgets")
    assert result.exit_code == 0
    assert result.output.startswith("Defaults: --budget 30 s")
    for known in KNOWN_BUDGETS:
        assert known.name in result.output and known.source in result.output


def test_main_is_the_console_script(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["budgets"])
    assert exit_info.value.code == 0
    assert "Heroku router" in capsys.readouterr().out


# Error paths: one line on stderr, exit 2, no traceback.


def test_no_source(runner: CliRunner) -> None:
    result = _run(runner, "report")
    assert result.exit_code == 2
    assert "give at least one SOURCE" in result.stderr


def test_missing_source(runner: CliRunner, tmp_path: Path) -> None:
    _one_line_error(_run(runner, "report", tmp_path / "nope.jsonl", "-o", tmp_path / "out"), "nope.jsonl")
    assert not (tmp_path / "out").exists()


def test_unknown_record_version(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "future.jsonl"
    path.write_text(json.dumps({**_record(1, 10.0, []), "v": 99}) + "\n")
    _one_line_error(_run(runner, "report", path, "-o", tmp_path / "out"), "99")


def test_no_records(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = _run(runner, "report", path, "-o", tmp_path / "out")
    _one_line_error(result, "")


def test_bad_config(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    config = tmp_path / "async-audit.toml"
    config.write_text("budget = [")
    _one_line_error(_run(runner, "report", records, "-o", tmp_path, "--config", config), "async-audit.toml")


def test_broken_template(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    (tmp_path / "t" / "report").mkdir(parents=True)
    (tmp_path / "t" / "report" / "report.md").write_text("{% for %}")
    result = _run(
        runner, "report", records, "-o", tmp_path / "out", "-f", "md", "--templates", tmp_path / "t"
    )
    _one_line_error(result, "report.md, line 1")


def test_output_directory_is_a_file(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = _run(runner, "report", records, "-f", "json", "-o", tmp_path / "file" / "out")
    _one_line_error(result, "cannot create the output directory")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "30x"], "Invalid value for '--budget': invalid duration '30x'"),
        (["--user-budget", "0s"], "Invalid value for '--user-budget'"),
        (["--format", "pdf"], "Invalid value for '--format'"),
        (["--workers", "0"], "Invalid value for '--workers'"),
        (["--backend", "cron"], "Invalid value for '--backend'"),
        (["--fail-on", "urgent"], "Invalid value for '--fail-on'"),
        (["--source-root", "/nonexistent-async-audit-root"], "Invalid value for '--source-root'"),
        (["--templates", "/nonexistent-async-audit-templates"], "Invalid value for '--templates'"),
        (["--config", "/nonexistent-async-audit.toml"], "Invalid value for '--config'"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_bad_options(runner: CliRunner, records: Path, args: list[str], message: str) -> None:
    result = _run(runner, "report", records, *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert message in result.stderr


def test_unknown_command(runner: CliRunner) -> None:
    result = _run(runner, "sacn")
    assert result.exit_code == 2 and "No such command 'sacn'" in result.stderr


def test_every_format_choice_is_a_renderer() -> None:
    from async_audit.report import RENDERERS

    (option,) = [p for p in cli_module.report.params if p.name == "formats"]
    assert sorted(option.type.choices) == sorted(RENDERERS)  # type: ignore[attr-defined]


# End to end: records made by the recorder itself, the installed command as a separate process.


def test_end_to_end_on_real_recordings(tmp_path: Path) -> None:
    from django.core import mail
    from django.test import Client, override_settings

    from async_audit.testing import capture_records

    client = Client()
    locmem = "django.core.mail.backends.locmem.EmailBackend"
    # Django 6.1 configures mail with MAILERS (and warns without it); earlier versions with EMAIL_BACKEND.
    mailer = {"MAILERS": {"default": {"BACKEND": locmem}}} if hasattr(mail, "mailers") else {}
    with override_settings(**mailer), capture_records() as captured:
        for _ in range(5):
            assert client.get("/mail-tasks/send-mail/").status_code == 200
            assert client.get("/hello/").status_code == 200
    assert len(captured) == 10 and captured.calls("email")
    records = tmp_path / "records" / "async-audit-test-1-1.jsonl"
    records.parent.mkdir()
    records.write_text("".join(json.dumps(r) + "\n" for r in captured))

    out = tmp_path / "report"
    command = [sys.executable, "-m", "async_audit.cli", "report", str(records.parent), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        str(out / f"async-audit-report.{e}") for e in ("html", "md", "json", "csv", "sarif")
    ]
    data = json.loads((out / "async-audit-report.json").read_text())
    assert data["sources"]["records"] == 10
    assert {(e["method"], e["route"]) for e in data["endpoints"]} == {
        ("GET", "mail-tasks/send-mail/"),
        ("GET", "hello/"),
    }
    assert any(f["category"] == "email" for f in data["findings"])
    html = (out / "async-audit-report.html").read_text()
    assert "mail-tasks/send-mail/" in html

    bad = subprocess.run([*command, "--budget", "soon"], capture_output=True, text=True, timeout=120, env=env,
                         check=False)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_source_root_merges_the_static_scan(runner: CliRunner, records: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "views.py").write_text(
        "import requests\nfrom django.core.mail import send_mail\n\n" + "".join(f"# {n}\n" for n in range(5))
        + "def checkout(request):\n    send_mail('Receipt', 'Thanks', None, ['a@example.com'])\n\n\n"
        + "def refund(request):\n    requests.post('https://hooks.slack.com/x', json={}, timeout=3)\n"
    )  # fmt: skip
    (root / "shop" / "urls.py").write_text(
        "from django.urls import path\n\nfrom shop import views\n\n"
        "urlpatterns = [path('shop/checkout/', views.checkout), path('shop/refund/', views.refund)]\n"
    )
    result = _run(runner, "report", records, "-o", tmp_path / "out", "-f", "json", "--source-root", root)
    assert result.exit_code == 0, result.output
    findings = json.loads((tmp_path / "out" / "async-audit-report.json").read_text())["findings"]
    by_line = {(f["site"]["file"], f["site"]["line"], f["kind"]): f for f in findings}
    measured = by_line[("shop/views.py", 10, "defer")]
    assert measured["confirmed"] is True and measured["source"] == "recorded"
    never_ran = by_line[("shop/views.py", 14, "defer")]
    assert never_ran["confirmed"] is False and never_ran["source"] == "static"
    assert never_ran["category"] == "notification" and never_ran["route"] == "shop/refund/"
