"""``manage.py async_audit``: the command line inside a site, with the site's settings."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, ManagementUtility, call_command
from django.test import override_settings

from async_audit.management.commands.async_audit import _without_django_options
from tests.test_cli import _email, _record


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """The site's OUTPUT_DIR, holding what its recorder wrote."""
    directory = tmp_path / "recordings"
    directory.mkdir()
    lines = [json.dumps(_record(n, 1_200.0, [_email(50.0, 900.0)])) for n in range(10)]
    (directory / "async-audit-web-1-7-1.jsonl").write_text("\n".join(lines) + "\n")
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(directory)}):
        yield directory


def test_report_reads_the_sites_output_dir_by_default(output_dir: Path, tmp_path: Path) -> None:
    out, err = StringIO(), StringIO()
    call_command("async_audit", "report", "-f", "json", "-o", str(tmp_path / "out"), stdout=out, stderr=err)
    assert out.getvalue().strip() == str(tmp_path / "out" / "async-audit-report.json")
    data = json.loads((tmp_path / "out" / "async-audit-report.json").read_text())
    assert data["sources"]["records"] == 10
    assert data["sources"]["paths"] and str(output_dir) in data["sources"]["paths"][0]
    assert "findings" in err.getvalue()


def test_explicit_sources_win(output_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(_record(99, 50.0, [])) + "\n")
    call_command(
        "async_audit", "report", str(other), "-f", "json", "-o", str(tmp_path / "out"), stdout=StringIO()
    )
    data = json.loads((tmp_path / "out" / "async-audit-report.json").read_text())
    assert data["sources"]["records"] == 1


def test_input_errors_keep_exit_status_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    err = StringIO()
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(empty)}):
        with pytest.raises(CommandError) as info:
            call_command("async_audit", "report", "-o", str(tmp_path / "out"), stdout=StringIO(), stderr=err)
    assert info.value.returncode == 2
    assert err.getvalue().startswith("Error: ")


def test_usage_errors_keep_exit_status_2(output_dir: Path) -> None:
    with pytest.raises(CommandError) as info:
        call_command("async_audit", "report", "--budget", "later", stdout=StringIO(), stderr=StringIO())
    assert info.value.returncode == 2


def test_fail_on_keeps_exit_status_1(output_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError) as info:
        call_command(
            "async_audit", "report", "-f", "json", "-o", str(tmp_path), "--fail-on", "info",
            stdout=StringIO(), stderr=StringIO(),
        )  # fmt: skip
    assert info.value.returncode == 1
    assert (tmp_path / "async-audit-report.json").is_file()


def test_budgets(capsys: pytest.CaptureFixture[str]) -> None:
    out = StringIO()
    call_command("async_audit", "budgets", stdout=out)
    assert "Heroku router" in out.getvalue()


def test_from_manage_py_click_parses_the_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    utility = ManagementUtility(["manage.py", "async_audit", "--settings=tests.settings", "budgets"])
    with pytest.raises(SystemExit) as info:
        utility.execute()
    assert info.value.code == 0
    assert "Heroku router" in capsys.readouterr().out

    with pytest.raises(SystemExit) as info:
        ManagementUtility(["manage.py", "async_audit", "--help"]).execute()
    assert info.value.code == 0
    help_text = capsys.readouterr().out
    assert "Usage: manage.py async_audit" in help_text and "report" in help_text

    with pytest.raises(SystemExit) as info:
        ManagementUtility(["manage.py", "async_audit", "report", "--workers", "none"]).execute()
    assert info.value.code == 2
    assert "Invalid value for '--workers'" in capsys.readouterr().err


def test_djangos_own_options_are_left_out() -> None:
    argv = ["report", "--settings", "x.settings", "a.jsonl", "--pythonpath=/src", "-f", "json"]
    assert _without_django_options(argv) == ["report", "a.jsonl", "-f", "json"]
