"""Reading call sites: what travels to the task, what is looked up again, and when the rewrite is refused."""

from __future__ import annotations

import ast
import py_compile
import shutil
import subprocess
from pathlib import Path

import pytest

from async_audit.analyze.model import CallSite, Category, FindingKind, Stub
from async_audit.extract import generate_stub, write_stubs
from async_audit.extract.callsite import ProjectInfo, absolute_module, analyze, module_name, rewrite_module
from tests.extract.conftest import PROJECTS, install, line_of, make_finding, report_of, ruff, shop_finding

BILLING = PROJECTS / "billing"
VIEWS = BILLING / "invoices" / "views.py"


def billing_stub(marker: str, function: str, backend: str = "django_tasks", **kwargs: object) -> Stub:
    site = CallSite("invoices/views.py", line_of(VIEWS, marker), function)
    finding = make_finding(site, category=Category.API_WRITE, view=f"invoices.views.{function}", **kwargs)  # type: ignore[arg-type]
    return generate_stub(finding, backend, BILLING)


def test_model_instances_travel_as_primary_keys_and_are_looked_up_again() -> None:
    stub = billing_stub("# the PDF", "pay")

    assert stub.rewritten
    # Invoice has a UUID key: the task takes the string, and the enqueue passes str(pk).
    assert "def pay_render_pdf(invoice_id: str, locale: str) -> None:" in stub.code
    assert "invoice = Invoice.objects.get(pk=invoice_id)" in stub.code
    assert "except Invoice.DoesNotExist:" in stub.code
    assert "from invoices.models import Invoice" in stub.code
    assert "services.render_pdf(invoice, locale=locale)" in stub.code
    assert (
        "+    transaction.on_commit(partial(pay_render_pdf.enqueue, invoice_id=str(invoice.pk), locale=locale))"  # noqa: E501
        in (stub.patch)
    )
    assert "-    services.render_pdf(invoice, locale=locale)  # the PDF" in stub.patch


def test_a_form_save_is_looked_up_as_the_forms_model_and_cleaned_data_travels_as_values() -> None:
    stub = billing_stub("# the second webhook", "create_customer")

    assert "customer = Customer.objects.get(pk=customer_id)" in stub.code
    assert "def create_customer_post_webhook(customer_id: int, email: Any) -> None:" in stub.code
    assert "services.post_webhook(customer, email)" in stub.code
    assert 'email=form.cleaned_data["email"]' in stub.patch


def test_module_level_names_of_the_view_are_imported_inside_the_task_and_reserved_names_renamed() -> None:
    stub = billing_stub("# the webhook", "create_customer", backend="django_q")

    # Imported inside the function: views imports the tasks module, so a top-level import would be a cycle.
    assert "    from invoices.views import WEBHOOK_EVENT\n" in stub.code
    # ``timeout`` is one of async_task's own options: the task parameter gets another name.
    assert "timeout_2: float" in stub.code
    assert "services.post_webhook(customer, WEBHOOK_EVENT, timeout=timeout_2)" in stub.code
    assert "timeout_2=timeout" in stub.patch


def test_class_based_view_object_uses_the_views_model() -> None:
    stub = billing_stub("# the detail PDF", "post")

    assert stub.rewritten
    assert "obj = Invoice.objects.get(pk=obj_id)" in stub.code
    assert "obj_id=str(self.object.pk)" in stub.patch


def test_a_parameter_annotated_with_a_model_is_a_primary_key() -> None:
    services = BILLING / "invoices" / "services.py"
    site = CallSite("invoices/services.py", line_of(services, "# the receipt render"), "send_receipt")
    stub = generate_stub(make_finding(site, view=None, category=Category.COMPUTE), "huey", BILLING)

    assert "invoice = Invoice.objects.get(pk=invoice_id)" in stub.code
    assert "HUEY.enqueue, send_receipt_render_pdf.s(invoice_id=str(invoice.pk))" in stub.patch


@pytest.mark.parametrize(
    ("marker", "function", "reason"),
    [
        ("# the checked webhook", "pay", "header of an if/with/for/while/try statement"),
        ("# the request itself", "audit", "the request itself is used"),
    ],
)
def test_unsafe_call_sites_get_a_snippet_instead_of_a_patch(marker: str, function: str, reason: str) -> None:
    stub = billing_stub(marker, function)

    assert not stub.rewritten
    assert stub.patch == ""
    assert reason in stub.snippet
    assert "# Replace this code:" in stub.snippet
    assert "transaction.on_commit(partial(" in stub.snippet
    compile(stub.code, "tasks.py", "exec")


def test_a_value_the_view_uses_is_not_rewritten(shop: Path) -> None:
    finding = shop_finding(shop, "# the CRM lookup", function="sync_contact", category=Category.API_WRITE)

    stub = generate_stub(finding, "celery", shop)

    assert not stub.rewritten
    assert "the value of `push_contact(...)` is used by the code that follows" in stub.snippet
    assert 'crm.push_contact(user.email, team="")' in stub.code
    assert "user_id=request.user.pk" in stub.snippet


def test_a_loop_of_emails_moves_as_one_task(shop: Path) -> None:
    finding = shop_finding(shop, 'send_mail(f"Join', function="invite", kind=FindingKind.BATCH)

    stub = generate_stub(finding, "dramatiq", shop)

    assert stub.rewritten
    assert "    for member in team.members.all():\n        send_mail(" in stub.code
    assert "The whole loop runs in one task" in stub.code
    assert 'f"{user.username} invites you."' in stub.code  # request.user became a looked-up user
    assert "-    for member in team.members.all():" in stub.patch
    assert "partial(invite_send_mail.send, team_id=team.pk, user_id=request.user.pk)" in stub.patch


def test_the_view_frame_is_moved_when_the_slow_call_is_in_a_helper(shop: Path) -> None:
    crm = shop / "accounts" / "crm.py"
    helper = CallSite("accounts/crm.py", line_of(crm, "urlopen"), "push_contact")
    view = CallSite("accounts/views.py", line_of(shop / "accounts" / "views.py", "# the CRM push"), "signup")
    finding = make_finding(helper, stack=[helper, view], category=Category.API_WRITE, via="urllib")

    stub = generate_stub(finding, "rq", shop)

    assert stub.task_name == "signup_push_contact"
    assert "crm.push_contact(user.email, team=team.name)" in stub.code
    assert "from accounts import crm" in stub.code


def test_several_findings_in_one_file_make_one_patch_that_applies(shop: Path, tmp_path: Path) -> None:
    findings = [
        shop_finding(shop, "# the welcome email", atomic=True),
        shop_finding(shop, "# the CRM push", category=Category.API_WRITE),
        shop_finding(shop, 'send_mail(f"Join', function="invite", kind=FindingKind.BATCH),
        shop_finding(shop, "# the welcome email"),  # the same call site twice: one task
    ]
    out = tmp_path / "out"

    written = write_stubs(report_of(*findings), "celery", out, shop)

    patch = (out / "call-sites.patch").read_text()
    assert patch.count("+++ b/accounts/views.py") == 1
    assert patch.count("+from .tasks import") == 1
    tasks = (out / "accounts" / "tasks.py").read_text()
    assert [line for line in tasks.splitlines() if line.startswith("def ")] == [
        "def signup_send_mail(team_id: int, user_id: int) -> None:",
        "def signup_push_contact(user_id: int, team_id: int) -> None:",
        "def invite_send_mail(team_id: int, user_id: int) -> None:",
    ]
    install(out, shop, written)
    views = (shop / "accounts" / "views.py").read_text()
    assert "from .tasks import invite_send_mail, signup_push_contact, signup_send_mail" in views
    assert "signup_send_mail.delay_on_commit(team_id=team.pk, user_id=user.pk)" in views
    # The context dict only fed the email: it moved into the task and left the view.
    assert "context = " not in views
    for path in shop.rglob("*.py"):
        py_compile.compile(str(path), doraise=True)
    lint = ruff([Path(".")], shop)
    assert lint.returncode == 0, lint.stdout


def test_the_patch_applies_with_patch_too(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_stubs(report_of(shop_finding(shop, "# the welcome email")), "huey", out, shop)

    result = subprocess.run(
        ["patch", "-p1", "--dry-run", "-i", str(out / "call-sites.patch")],
        cwd=shop,
        capture_output=True,
        text=True,
    )

    if result.returncode == 127:  # pragma: no cover - no patch(1) on this machine
        pytest.skip("patch is not installed")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rewrite_keeps_formatting_and_comments_elsewhere() -> None:
    code = (
        '"""Views."""\n\nimport logging  # why\n\nfrom django.core.mail import send_mail\n\n\n'
        "def hello(request, name):\n"
        "    # greet\n"
        "    send_mail('Hi', name, None, ['a@example.com'])\n"
        "    return   None  # odd spacing stays\n"
    )
    plan = analyze(code, "app/views.py", 10, "hello", ProjectInfo(None, frozenset({"app"})))
    assert plan is not None and plan.rewritable
    assert [p.name for p in plan.params] == ["name"]

    new = rewrite_module(code, [(plan, "hello_send_mail.enqueue(name=name)", [])], frozenset({"app"}))

    # send_mail is no longer used: its import goes, and the blank lines before the function stay two.
    assert new == (
        '"""Views."""\n\nimport logging  # why\n\n\n'
        "def hello(request, name):\n"
        "    # greet\n"
        "    hello_send_mail.enqueue(name=name)\n"
        "    return   None  # odd spacing stays\n"
    )


def test_module_names_and_relative_imports() -> None:
    assert module_name("accounts/views.py") == "accounts.views"
    assert module_name("accounts/__init__.py") == "accounts"
    assert absolute_module("models", 1, "accounts.views") == "accounts.models"
    assert absolute_module("", 1, "accounts.views") == "accounts"
    assert absolute_module("core", 2, "shop.accounts.views") == "shop.core"
    assert absolute_module("models", 1, "accounts", is_package=True) == "accounts.models"


def test_a_try_that_only_logs_goes_with_the_call(shop: Path) -> None:
    finding = shop_finding(shop, "# the resent email", function="resend_welcome")

    stub = generate_stub(finding, "django_q", shop)

    assert stub.rewritten
    assert "-    try:" in stub.patch
    assert "-    except (smtplib.SMTPException, OSError):" in stub.patch
    assert "-import smtplib" in stub.patch  # nothing else in the module uses it
    assert "+    transaction.on_commit(" in stub.patch
    assert "The try/except that only logged its failure at the call site is gone" in stub.code
    assert "user = user_model.objects.get(pk=user_id)" in stub.code
    assert "except (smtplib" not in stub.code


def test_an_async_view_gets_a_snippet() -> None:
    code = "async def hello(request, name):\n    notify(name)\n"

    plan = analyze(code, "app/views.py", 2, "hello", ProjectInfo(None, frozenset({"app"})))

    assert plan is not None and not plan.rewritable
    assert "the view is async" in plan.problems[0]


def test_a_line_outside_any_function_gives_no_plan() -> None:
    assert analyze("X = 1\n", "app/settings.py", 1, None, ProjectInfo(None, frozenset())) is None
    assert analyze("def broken(:\n", "app/views.py", 1, None, ProjectInfo(None, frozenset())) is None


@pytest.mark.parametrize("backend", ["django_tasks", "huey"])
def test_every_call_statement_of_a_project_at_once(backend: str, tmp_path: Path) -> None:
    """A finding at every call statement of every function: one patch that applies, and clean code after."""
    project = tmp_path / "billing"
    shutil.copytree(BILLING, project, ignore=shutil.ignore_patterns("__pycache__"))
    findings = []
    for path in sorted(project.rglob("*.py")):
        rel = path.relative_to(project).as_posix()
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, ast.FunctionDef):
                for node in ast.walk(function):
                    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                        site = CallSite(rel, node.lineno, function.name)
                        findings.append(make_finding(site, category=Category.COMPUTE, view=None))
    assert len(findings) == 7
    out = tmp_path / "out"

    written = write_stubs(report_of(*findings), backend, out, project)

    install(out, project, written)
    changed = [
        Path(line[6:]) for line in (out / "call-sites.patch").read_text().splitlines() if line[:6] == "+++ b/"
    ]
    assert changed
    generated = [p.relative_to(out.resolve()) for p in written if p.suffix == ".py"]
    for path in project.rglob("*.py"):
        py_compile.compile(str(path), doraise=True)
    lint = ruff([*changed, *generated], project)
    assert lint.returncode == 0, lint.stdout
