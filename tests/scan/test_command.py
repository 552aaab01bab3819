"""``async-audit scan``: the command over :func:`async_audit.scan.scan_project`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

cli_module = pytest.importorskip("async_audit.cli")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A one-view project: a welcome email sent inside the request."""
    root = tmp_path / "site"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "urls.py").write_text(
        "from django.urls import path\nfrom . import views\nurlpatterns = [path('join/', views.join)]\n"
    )
    (root / "app" / "views.py").write_text(
        "from django.core.mail import send_mail\n"
        "from django.shortcuts import redirect\n"
        "def join(request):\n"
        "    send_mail('Welcome', 'Hi', 'shop@example.com', ['new@example.com'])\n"
        "    for _ in range(3):\n"
        "        send_mail('Tip', 'Hi', 'shop@example.com', ['new@example.com'])\n"
        "    return redirect('/')\n"
    )
    return root


def _scan(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_module.cli, ["scan", *args])
    return result.exit_code, result.output


def test_writes_a_static_report(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _scan(str(site), "--out", str(out), "--format", "json", "--format", "md")
    assert code == 0, output
    data = json.loads((out / "async-audit-report.json").read_text())
    assert data["sources"]["kind"] == "static"
    assert {(f["kind"], f["site"]["line"], f["route"]) for f in data["findings"]} == {
        ("defer", 4, "join/"),
        ("defer", 6, "join/"),
        ("batch", 6, "join/"),
    }
    assert {f["source"] for f in data["findings"]} == {"static"}
    assert all(f["stub"] for f in data["findings"])
    assert (out / "async-audit-report.md").is_file()


def test_fail_on_and_bad_input(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _scan(str(site), "--out", str(out), "--format", "json", "--fail-on", "high")
    assert code == 1, output  # the loop is a high-severity batch finding
    code, output = _scan(str(site), "--out", str(out), "--format", "json", "--fail-on", "critical")
    assert code == 0, output
    code, _ = _scan(str(tmp_path / "missing"), "--out", str(out))
    assert code == 2
    code, _ = _scan(str(site), "--out", str(out), "--max-depth", "0")
    assert code == 2
