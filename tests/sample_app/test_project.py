"""The Ledgerly project: migrations match its models, settings pass the checks, its routes are as listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ground_truth
from runner import Site

from .conftest import AUDIT

# One Django process answers every question: each start costs seconds on a busy machine.
_SCRIPT = """
import io, json
from django.conf import settings
from django.core.management import call_command
from django.urls import URLResolver, get_resolver

def walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, prefix + str(p.pattern))
        else:
            view = getattr(p.callback, "view_class", None) or p.callback
            yield prefix + str(p.pattern), view.__module__ + "." + view.__qualname__

migrations, checks = io.StringIO(), io.StringIO()
call_command("makemigrations", check=True, dry_run=True, stdout=migrations)
call_command("check", fail_level="WARNING", stdout=checks)
print(json.dumps({
    "migrations": migrations.getvalue(),
    "checks": checks.getvalue(),
    "routes": dict(walk(get_resolver().url_patterns)),
    "middleware": settings.MIDDLEWARE,
    "installed_apps": settings.INSTALLED_APPS,
    "async_audit": getattr(settings, "ASYNC_AUDIT", None),
}))
"""


@pytest.fixture(scope="module", params=[True, False], ids=["recorder", "no-recorder"])
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    audit: bool = request.param
    if audit and not AUDIT:
        pytest.skip("async_audit.middleware is not importable")
    site = Site(workdir=tmp_path_factory.mktemp("project"), audit=audit)
    facts = json.loads(site.manage("shell", "-v", "0", "-c", _SCRIPT).strip().splitlines()[-1])
    yield {**facts, "audit": audit, "audit_dir": str(site.audit_dir)}


def test_migrations_are_committed_for_every_model_change(project: dict[str, Any]) -> None:
    assert "No changes detected" in project["migrations"]


def test_system_checks_pass_without_warnings(project: dict[str, Any]) -> None:
    # With the recorder on, its own checks vet the ASYNC_AUDIT setting as a user wrote it.
    assert "System check identified no issues" in project["checks"]


def test_every_case_s_route_leads_to_its_view(project: dict[str, Any]) -> None:
    for case in ground_truth.load().cases:
        assert project["routes"].get(case.route) == case.view, case.id


def test_the_recorder_is_installed_as_a_user_would_install_it(project: dict[str, Any]) -> None:
    if not project["audit"]:
        # LEDGERLY_AUDIT=0 takes it out entirely.
        assert project["async_audit"] is None
        assert not any("async_audit" in name for name in project["middleware"] + project["installed_apps"])
        return
    assert project["middleware"][0] == "async_audit.middleware.AuditMiddleware"
    assert "async_audit" in project["installed_apps"]
    config = project["async_audit"]
    assert config["OUTPUT_DIR"] == project["audit_dir"]
    assert [Path(root).name for root in config["PROJECT_ROOTS"]] == ["sample_app"]
