"""Stubs made from the finding's facts alone, the report's stubs, writing files, templates and errors."""

from __future__ import annotations

import dataclasses
import py_compile
from pathlib import Path

import pytest

from async_audit.analyze.model import CallSite, Category, FindingKind
from async_audit.errors import InputError, UsageError
from async_audit.extract import BACKENDS, StubGenerator, attach_stubs, generate_stub, generator, write_stubs
from async_audit.extract.spec import TaskSpec
from tests.extract.conftest import make_finding, report_of, ruff, shop_finding

SIGNUP = CallSite("accounts/views.py", 41, "signup")


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_source_every_backend_writes_clean_parameterised_code(backend: str, tmp_path: Path) -> None:
    findings = [
        make_finding(SIGNUP, category=category, target="api.hubapi.com", via="requests")
        for category in (Category.EMAIL, Category.API_WRITE, Category.COMPUTE)
    ]
    out = tmp_path / "site"

    written = write_stubs(report_of(*findings), backend, out, None)

    for finding in findings:
        stub = generate_stub(finding, backend)
        assert not stub.rewritten and stub.patch == ""
        assert "the source was not given (--source-root)" in stub.snippet
        assert f"signup_{finding.category.value}" == stub.task_name
        assert "Made without the source (accounts/views.py:41 in signup (signup/))" in stub.code
    sources = [p for p in written if p.suffix == ".py"]
    assert len(sources) == 1 + 3 + 2  # one tasks module, three commands, two package markers
    (out / "accounts" / "__init__.py").write_text("")
    for path in sources:
        py_compile.compile(str(path), doraise=True)
    lint = ruff([p.relative_to(out.resolve()) for p in sources], out)
    assert lint.returncode == 0, lint.stdout
    assert (out / "call-sites.patch").read_text() == ""
    assert "# Replace this code:" in (out / "call-sites-by-hand.py.txt").read_text()


def test_without_source_the_email_task_takes_the_message_as_values() -> None:
    stub = generate_stub(make_finding(SIGNUP), "celery")

    assert "def signup_email(subject: str, message: str, recipient_list: list[str]) -> None:" in stub.code
    assert "send_mail(subject, message, None, recipient_list)" in stub.code
    assert "autoretry_for=(OSError,)" in stub.code
    assert "subject=subject, message=message, recipient_list=recipient_list" in stub.snippet


def test_attach_stubs_fills_candidates_only_and_detects_the_backend(shop: Path) -> None:
    # The shop's own settings configure every backend by turns: this site runs Dramatiq.
    (shop / "shop" / "settings.py").write_text('INSTALLED_APPS = ["accounts", "django_dramatiq"]\n')
    defer = shop_finding(shop, "# the welcome email")
    keep = dataclasses.replace(defer, id="keep", kind=FindingKind.KEEP_SYNC)
    report = report_of(defer, keep)

    attach_stubs(report, None, shop)

    assert keep.stub is None
    assert defer.stub is not None
    assert defer.stub.backend == "dramatiq"
    assert defer.stub.rewritten
    assert "@dramatiq.actor(" in defer.stub.code
    assert report.to_dict()["findings"][0]["stub"]["code"] == defer.stub.code
    assert report.sources.notes == []  # no StubBroker configured: nothing runs inline


def test_attach_stubs_notes_a_backend_that_runs_tasks_inline(shop: Path) -> None:
    (shop / "shop" / "settings.py").write_text(
        'INSTALLED_APPS = ["accounts"]\nCELERY_TASK_ALWAYS_EAGER = True\n'
    )
    report = report_of(shop_finding(shop, "# the welcome email"))

    attach_stubs(report, None, shop)

    assert report.findings[0].stub is not None and report.findings[0].stub.backend == "celery"
    assert report.sources.notes == [
        "CELERY_TASK_ALWAYS_EAGER is True: Celery runs every task inside the request that enqueues it."
    ]


def test_attach_stubs_defaults_to_djangos_tasks_without_a_source() -> None:
    report = attach_stubs(report_of(make_finding(SIGNUP)), None, None)

    assert report.findings[0].stub is not None
    assert report.findings[0].stub.backend == "django_tasks"


def test_write_stubs_refuses_to_write_outside_the_output_directory(tmp_path: Path) -> None:
    escape = CallSite("../../outside/views.py", 3, "signup")

    with pytest.raises(InputError, match="refusing to write outside"):
        write_stubs(report_of(make_finding(escape)), "rq", tmp_path / "out", None)

    assert not (tmp_path / "outside").exists()


def test_a_user_template_overrides_one_backends_decorator(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "stubs" / "celery").mkdir(parents=True)
    (templates / "stubs" / "celery" / "decorator.py.j2").write_text(
        '@shared_task(queue="{{ task.category }}")\n'
    )

    stub = generate_stub(make_finding(SIGNUP), "celery", templates=templates)

    assert '@shared_task(queue="email")\ndef signup_email(' in stub.code
    assert "Run the signup_email task by hand." in stub.command  # the other templates are the packaged ones


def test_template_errors_are_input_errors(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "stubs").mkdir(parents=True)
    (templates / "stubs" / "command.py.j2").write_text("{{ no_such_variable }}\n")

    with pytest.raises(InputError, match="stub template stubs/command.py.j2"):
        generate_stub(make_finding(SIGNUP), "rq", templates=templates)
    with pytest.raises(InputError, match="templates directory not found"):
        generate_stub(make_finding(SIGNUP), "rq", templates=tmp_path / "missing")


def test_unknown_backend_and_non_candidate_findings_are_refused() -> None:
    with pytest.raises(UsageError, match="unknown task backend 'sidekiq'"):
        generate_stub(make_finding(SIGNUP), "sidekiq")
    with pytest.raises(InputError, match="only defer and batch"):
        generate_stub(make_finding(SIGNUP, kind=FindingKind.NO_TIMEOUT), "rq")


def test_every_backend_has_a_generator() -> None:
    assert sorted(StubGenerator.registry) == sorted(BACKENDS)
    assert all(generator(name).name == name for name in BACKENDS)


def test_celery_without_delay_on_commit_uses_on_commit(shop: Path) -> None:
    from async_audit.extract.backends.celery import CeleryGenerator
    from async_audit.extract.generate import prepare

    item = prepare([shop_finding(shop, "# the welcome email")], shop)[0]
    code, imports = CeleryGenerator(delay_on_commit=False).call_site(item.spec)
    assert code == "transaction.on_commit(partial(signup_send_mail.delay, team_id=team.pk, user_id=user.pk))"
    assert {i.line() for i in imports} == {
        "from functools import partial",
        "from django.db import transaction",
        "from accounts.tasks import signup_send_mail",
    }
    code, imports = CeleryGenerator(delay_on_commit=True).call_site(item.spec)
    assert code == "signup_send_mail.delay_on_commit(team_id=team.pk, user_id=user.pk)"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"requirements.txt": "Django==5.2\ncelery[redis]==5.3.6\n"}, False),
        ({"requirements/base.txt": "celery>=5.4\n"}, True),
        ({"pyproject.toml": '[project]\ndependencies = ["celery~=5.5.0"]\n'}, True),
        ({"poetry.lock": '[[package]]\nname = "celery"\nversion = "5.2.7"\n'}, False),
    ],
)
def test_celery_delay_on_commit_follows_the_projects_pin(
    files: dict[str, str], expected: bool, tmp_path: Path
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    gen = generator("celery", tmp_path)

    code, _ = gen.call_site(generate_spec_for_signup())
    assert ("delay_on_commit(" in code) is expected


def generate_spec_for_signup() -> TaskSpec:
    from async_audit.extract.generate import prepare

    return prepare([make_finding(SIGNUP)], None)[0].spec


def test_without_any_site_the_task_runs_a_named_function(tmp_path: Path) -> None:
    finding = make_finding(CallSite(None, None, None), view=None, route=None, category=Category.COMPUTE)

    stub = generate_stub(finding, "dramatiq")

    assert "def request_compute(function: str, arguments: dict[str, Any]) -> None:" in stub.code
    assert "import_string(function)(**arguments)" in stub.code
    assert "from tasks import request_compute" in stub.snippet
    (tmp_path / "tasks.py").write_text(stub.code)
    lint = ruff([Path("tasks.py")], tmp_path)
    assert lint.returncode == 0, lint.stdout
