"""Fixtures of the extraction tests: a local SMTP server, a fresh copy of a fixture project, findings."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_audit.analyze.model import (
    Budgets,
    CallSite,
    Category,
    Disposition,
    Finding,
    FindingKind,
    Report,
    Severity,
    Sources,
)

PROJECTS = Path(__file__).parent / "projects"


class Mailbox:
    """What the SMTP server received: (envelope recipients, raw message) pairs."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    mailbox = Mailbox()
    port = free_port()
    controller = controller_module.Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A fresh copy of the shop project, safe to patch."""
    target = tmp_path / "shop"
    shutil.copytree(PROJECTS / "shop", target, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return target


def line_of(path: Path, marker: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {path}")


def make_finding(
    site: CallSite,
    *,
    kind: FindingKind = FindingKind.DEFER,
    category: Category = Category.EMAIL,
    view: str | None = "accounts.views.signup",
    route: str | None = "signup/",
    stack: list[CallSite] | None = None,
    atomic: bool = False,
    lib: str | None = "django.mail",
    via: str | None = None,
    target: str | None = None,
) -> Finding:
    return Finding(
        id=f"{kind.value}-{site.file}-{site.line}",
        kind=kind,
        category=category,
        disposition=Disposition.DEFER,
        severity=Severity.HIGH,
        reason="the response does not use it",
        rule=f"builtin:{category.value}",
        method="POST",
        route=route,
        view=view,
        site=site,
        count=40,
        requests=40,
        calls_per_request=1.0,
        mean_ms=910.0,
        p95_ms=1200.0,
        share_of_request=0.6,
        savings_ms_per_request=910.0,
        lib=lib,
        via=via,
        target=target,
        atomic=atomic,
        stack=stack if stack is not None else [site],
    )


def shop_finding(project: Path, marker: str, function: str = "signup", **kwargs: Any) -> Finding:
    views = project / "accounts" / "views.py"
    site = CallSite("accounts/views.py", line_of(views, marker), function)
    kwargs.setdefault("view", f"accounts.views.{function}")
    return make_finding(site, **kwargs)


def report_of(*findings: Finding) -> Report:
    return Report(
        generated_at="2026-11-28T00:00:00+00:00",
        sources=Sources(),
        budgets=Budgets(),
        findings=list(findings),
    )


def ruff(paths: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ruff with the project's rules, run from ``cwd`` (so its packages are first-party)."""
    exe = Path(sys.executable).with_name("ruff")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "ruff"]
    return subprocess.run(
        [
            *command,
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            "E,F,I,B,UP,DJ,C90",
            "--line-length",
            "110",
            "--target-version",
            "py310",
            *map(str, paths),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def install(out_dir: Path, project: Path, written: list[Path]) -> None:
    """Copy the generated modules into the project and apply the patch, as a team would."""
    for path in written:
        rel = path.relative_to(out_dir.resolve())
        if path.suffix == ".py":
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, project / rel)
    patch = out_dir / "call-sites.patch"
    check = subprocess.run(
        ["git", "apply", "--check", str(patch)], cwd=project, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    subprocess.run(["git", "apply", str(patch)], cwd=project, check=True)
