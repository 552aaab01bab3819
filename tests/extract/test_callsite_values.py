"""What a moved call's locals become when they are not plain values: found running the sample site's patch.

Django's task backends (and Celery's JSON serializer) refuse a model instance or an ``EmailMessage`` at
enqueue time, inside the request: a patch that passed one broke the page it meant to speed up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from async_audit.analyze.model import CallSite, Category, Stub
from async_audit.extract import generate_stub
from tests.extract.conftest import line_of, make_finding

MODELS = """\
from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=100)


class Team(models.Model):
    name = models.CharField(max_length=100)
"""

TENANCY = """\
from __future__ import annotations

from .models import Organization


def current_organization(request) -> Organization:
    return request.user.profile.organization


def current_team(request):
    return request.user.profile.team
"""

VIEWS = """\
from __future__ import annotations

import stripe
from django.core.mail import EmailMessage
from django.http import HttpResponse

from . import crm
from .tenancy import current_organization, current_team


def create(request):
    organization = current_organization(request)
    crm.record_deal(organization=organization)  # the deal
    return HttpResponse("ok")


def team(request):
    team = current_team(request)
    crm.record_team(team)  # the team
    return HttpResponse("ok")


def charge(request):
    organization = stripe.Customer.retrieve("cus_1")
    crm.record_customer(organization)  # the stripe object
    return HttpResponse("ok")


def send(request):
    message = EmailMessage("Hello", "Body", to=["ada@example.com"])
    message.send()  # the message
    return HttpResponse("ok")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    for name, text in {
        "__init__.py": "",
        "models.py": MODELS,
        "tenancy.py": TENANCY,
        "crm.py": "def record_deal(**kwargs): ...\n",
        "views.py": VIEWS,
    }.items():
        (app / name).write_text(text, encoding="utf-8")
    return tmp_path


def stub_at(project: Path, marker: str, function: str, category: Category = Category.API_WRITE) -> Stub:
    site = CallSite("app/views.py", line_of(project / "app" / "views.py", marker), function)
    finding = make_finding(site, category=category, view=f"app.views.{function}")
    return generate_stub(finding, "django_tasks", project)


def test_a_model_a_project_helper_returns_travels_as_its_primary_key(project: Path) -> None:
    stub = stub_at(project, "# the deal", "create")

    assert stub.rewritten
    added = [line for line in stub.patch.splitlines() if line.startswith("+")]
    assert any("organization_id=organization.pk" in line for line in added)
    assert not any("organization=organization" in line for line in added)
    assert "from app.models import Organization" in stub.code
    assert "organization = Organization.objects.get(pk=organization_id)" in stub.code
    assert "a guess from its name" not in stub.code  # the annotation said so


def test_an_unannotated_helper_is_read_by_the_variables_name_and_says_it_guessed(project: Path) -> None:
    stub = stub_at(project, "# the team", "team")

    assert stub.rewritten
    assert "team_id=team.pk" in stub.patch
    assert "team = Team.objects.get(pk=team_id)" in stub.code
    assert "a guess from its name" in stub.code


def test_a_librarys_object_is_not_taken_for_a_model_of_the_same_name(project: Path) -> None:
    stub = stub_at(project, "# the stripe object", "charge")

    assert "organization_id" not in stub.code + stub.patch + stub.snippet
    assert "Organization.objects" not in stub.code


def test_an_object_built_at_the_call_site_cannot_travel_so_the_change_is_a_snippet(project: Path) -> None:
    stub = stub_at(project, "# the message", "send", Category.EMAIL)

    assert not stub.rewritten and stub.patch == ""
    assert "`message` is an instance of EmailMessage, which cannot travel to a task" in stub.snippet
