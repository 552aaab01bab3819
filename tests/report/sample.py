"""Hand-built reports for the renderer and command-line tests: every finding kind, every section."""

from __future__ import annotations

from pathlib import Path

from async_audit.analyze.model import (
    Budgets,
    CallSite,
    Capacity,
    Category,
    Disposition,
    Endpoint,
    ExampleRequest,
    Finding,
    FindingKind,
    Report,
    Severity,
    Sources,
    Stub,
    WaterfallCall,
)

#: Recorded text an attacker controls (a route, a host, a task name), in every field that reaches a report.
HOSTILE = '<script>alert("x")</script> \'|*_[a](javascript:x)` =HYPERLINK("http://evil")'

VIEWS_PY = """\
from django.core.mail import send_mail
from django.shortcuts import redirect

from accounts import crm


def signup(request):
    form = SignupForm(request.POST)
    if form.is_valid():
        user = form.save()
        send_mail("Welcome", "Hello", None, [user.email])
        crm.push_contact(user)
        return redirect("home")
    return render(request, "signup.html", {"form": form})
"""

TASK_CODE = '''\
from celery import shared_task
from django.core.mail import send_mail


@shared_task
def send_welcome_email(user_id):
    """Send the welcome email outside the request."""
    user = User.objects.get(pk=user_id)
    send_mail("Welcome", "Hello", None, [user.email])
'''

PATCH = """\
--- a/accounts/views.py
+++ b/accounts/views.py
@@ -11,3 +11,3 @@
         user = form.save()
-        send_mail("Welcome", "Hello", None, [user.email])
+        transaction.on_commit(lambda: send_welcome_email.delay(user.pk))
         crm.push_contact(user)
"""


def write_source_tree(root: Path) -> Path:
    """A tiny project tree for ``--source-root``: the file the sample findings point into."""
    (root / "accounts").mkdir(parents=True, exist_ok=True)
    (root / "accounts" / "views.py").write_text(VIEWS_PY, encoding="utf-8")
    (root / "accounts" / "crm.py").write_text(
        "import requests\n\n\ndef push_contact(user):\n" + "    pass\n" * 20
    )
    return root


def _finding(**overrides: object) -> Finding:
    values: dict[str, object] = dict(
        id="f-defer-email",
        kind=FindingKind.DEFER,
        category=Category.EMAIL,
        disposition=Disposition.DEFER,
        severity=Severity.HIGH,
        reason="The welcome email is sent before the redirect, and the response never uses its result.",
        rule="builtin:django-mail",
        method="POST",
        route="accounts/signup/",
        view="accounts.views.signup",
        site=CallSite("accounts/views.py", 11, "signup"),
        count=412,
        requests=412,
        calls_per_request=1.0,
        mean_ms=905.2,
        p95_ms=1710.4,
        share_of_request=0.46,
        savings_ms_per_request=905.2,
        priority=1,
        lib="django.mail",
        via=None,
        target="django.core.mail.backends.smtp.EmailBackend",
        atomic=True,
        stack=[CallSite("accounts/views.py", 11, "signup")],
        example_request_id="9f2c4a1be07d3e55",
        evidence={"recipients_per_call": 1.0, "errors": 3},
    )
    values.update(overrides)
    return Finding(**values)  # type: ignore[arg-type]


def make_report(hostile: bool = False, source_root: Path | None = None) -> Report:
    """A report with endpoints, capacity, an example request and one finding of every kind.

    ``hostile=True`` puts :data:`HOSTILE` into every recorded text field the renderers show.
    """
    text = (lambda value: f"{value} {HOSTILE}") if hostile else (lambda value: value)
    signup_route = text("accounts/signup/")
    hubspot = text("api.hubapi.com")
    endpoints = [
        Endpoint(
            method="POST",
            route=signup_route,
            view="accounts.views.signup",
            count=412,
            p50_ms=1840.0,
            p95_ms=4210.0,
            p99_ms=6120.0,
            max_ms=31_200.0,
            over_budget=1,
            over_user_budget=388,
            deferrable_ms_p50=1540.0,
            deferrable_ms_p95=3830.0,
            projected_p50_ms=300.0,
            projected_p95_ms=380.0,
            projected_p99_ms=540.0,
            error_count=2,
            time_by_category={"email": 905.2, "api_write": 640.1, "sql": 22.5, "payment": 0.0},
            example_request_id="9f2c4a1be07d3e55",
        ),
        Endpoint(
            method="POST",
            route="checkout/pay/",
            view="shop.views.pay",
            count=120,
            p50_ms=950.0,
            p95_ms=2400.0,
            p99_ms=3100.0,
            max_ms=3900.0,
            over_budget=0,
            over_user_budget=61,
            deferrable_ms_p50=300.0,
            deferrable_ms_p95=700.0,
            projected_p50_ms=650.0,
            projected_p95_ms=1700.0,
            projected_p99_ms=2400.0,
            time_by_category={"payment": 610.0, "search_index": 300.0, "sql": 40.0},
        ),
        Endpoint(
            method="GET",
            route="products/<slug:slug>/",
            view="shop.views.product",
            count=5210,
            p50_ms=45.0,
            p95_ms=130.0,
            p99_ms=410.0,
            max_ms=1300.0,
            over_budget=0,
            over_user_budget=12,
            deferrable_ms_p50=0.0,
            deferrable_ms_p95=0.0,
            projected_p50_ms=45.0,
            projected_p95_ms=130.0,
            projected_p99_ms=410.0,
            time_by_category={"api_read": 40.0, "sql": 12.0},
        ),
        Endpoint(
            method="GET",
            route=None,
            view=None,
            count=33,
            p50_ms=4.0,
            p95_ms=9.0,
            p99_ms=12.0,
            max_ms=15.0,
            over_budget=0,
            over_user_budget=0,
            deferrable_ms_p50=0.0,
            deferrable_ms_p95=0.0,
            projected_p50_ms=4.0,
            projected_p95_ms=9.0,
            projected_p99_ms=12.0,
        ),
    ]
    findings = [
        _finding(
            route=signup_route,
            stub=Stub(
                backend="celery",
                task_name=text("send_welcome_email"),
                code=TASK_CODE + (f"# route: {HOSTILE}\n" if hostile else ""),
                command="call_command('run_send_welcome_email', user_id=1)\n",
                patch=PATCH,
                rewritten=True,
            ),
        ),
        _finding(
            id="f-defer-crm",
            category=Category.API_WRITE,
            reason=text("POST to the CRM whose response the view ignores."),
            rule="builtin:hubspot",
            route=signup_route,
            site=CallSite("accounts/crm.py", 4, "push_contact"),
            stack=[
                CallSite("accounts/crm.py", 4, "push_contact"),
                CallSite("accounts/views.py", 12, "signup"),
            ],
            count=410,
            requests=410,
            mean_ms=640.1,
            p95_ms=1320.0,
            share_of_request=0.31,
            savings_ms_per_request=640.1,
            priority=2,
            lib="http.client",
            via="hubspot",
            target=hubspot,
            atomic=False,
            severity=Severity.MEDIUM,
            stub=Stub(
                backend="celery",
                task_name="push_contact_task",
                code="def push_contact_task(user_id):\n    ...\n",
                snippet="push_contact_task.delay(user.pk)\n",
            ),
        ),
        _finding(
            id="f-batch-index",
            kind=FindingKind.BATCH,
            category=Category.SEARCH_INDEX,
            reason="Each product is indexed with its own request; one bulk request would do.",
            method="POST",
            route="checkout/pay/",
            view="shop.views.pay",
            site=CallSite("shop/search.py", 30, "index_product"),
            stack=[CallSite("shop/search.py", 30, "index_product")],
            count=960,
            requests=120,
            calls_per_request=8.0,
            mean_ms=37.5,
            p95_ms=80.0,
            share_of_request=0.25,
            savings_ms_per_request=300.0,
            priority=3,
            severity=Severity.MEDIUM,
            lib="elasticsearch",
            via="elasticsearch",
            target="search.internal",
            atomic=False,
        ),
        _finding(
            id="f-no-timeout",
            kind=FindingKind.NO_TIMEOUT,
            category=Category.API_WRITE,
            disposition=Disposition.DEFER,
            reason=text("Calls to the CRM are made without a timeout."),
            route=signup_route,
            site=CallSite("accounts/crm.py", 4, "push_contact"),
            stack=[],
            count=410,
            requests=410,
            mean_ms=640.1,
            p95_ms=1320.0,
            share_of_request=0.31,
            savings_ms_per_request=0.0,
            priority=4,
            severity=Severity.MEDIUM,
            no_timeout_rate=1.0,
            target=hubspot,
            atomic=False,
        ),
        _finding(
            id="f-fake-async",
            kind=FindingKind.FAKE_ASYNC,
            category=Category.TASK,
            disposition=Disposition.DEFERRED,
            reason="CELERY_TASK_ALWAYS_EAGER runs the receipt task inside the request.",
            method="POST",
            route="checkout/pay/",
            view="shop.views.pay",
            site=CallSite("shop/views.py", 88, "pay"),
            stack=[],
            count=120,
            requests=120,
            mean_ms=210.0,
            p95_ms=450.0,
            share_of_request=0.12,
            savings_ms_per_request=210.0,
            priority=5,
            severity=Severity.LOW,
            lib="celery",
            target="shop.tasks.send_receipt",
            atomic=False,
        ),
        _finding(
            id="f-timeout-risk",
            kind=FindingKind.TIMEOUT_RISK,
            category=Category.OTHER,
            disposition=Disposition.REVIEW,
            reason=text("1 request of POST accounts/signup/ took longer than the 30 s platform timeout."),
            route=signup_route,
            site=CallSite(None, None, None),
            stack=[],
            count=412,
            requests=412,
            calls_per_request=0.0,
            mean_ms=1840.0,
            p95_ms=4210.0,
            share_of_request=1.0,
            savings_ms_per_request=0.0,
            priority=6,
            severity=Severity.CRITICAL,
            lib=None,
            target=None,
            atomic=False,
            example_request_id=None,
            evidence={},
        ),
        _finding(
            id="f-keep-stripe",
            kind=FindingKind.KEEP_SYNC,
            category=Category.PAYMENT,
            disposition=Disposition.KEEP_SYNC,
            reason="Charging the card decides whether the order is granted: it must finish first.",
            rule="builtin:stripe",
            method="POST",
            route="checkout/pay/",
            view="shop.views.pay",
            site=CallSite("shop/views.py", 75, "pay"),
            stack=[],
            count=120,
            requests=120,
            mean_ms=610.0,
            p95_ms=1400.0,
            share_of_request=0.5,
            savings_ms_per_request=0.0,
            priority=0,
            severity=Severity.INFO,
            lib="http.client",
            via="stripe",
            target="api.stripe.com",
            atomic=False,
        ),
        _finding(
            id="f-keep-sql",
            kind=FindingKind.KEEP_SYNC,
            category=Category.SQL,
            disposition=Disposition.KEEP_SYNC,
            reason="The new account row must be committed before the user moves on.",
            rule="builtin:sql",
            site=CallSite("accounts/views.py", 10, "signup"),
            stack=[],
            route=signup_route,
            count=412,
            requests=412,
            mean_ms=22.5,
            p95_ms=60.0,
            share_of_request=0.01,
            savings_ms_per_request=0.0,
            priority=0,
            severity=Severity.INFO,
            lib="django.db",
            target="default",
            atomic=True,
        ),
    ]
    example = ExampleRequest(
        id="9f2c4a1be07d3e55",
        method="POST",
        route=signup_route,
        ms=4210.0,
        projected_ms=380.0,
        calls=[
            WaterfallCall("sql", "INSERT INTO auth_user", 60.0, 22.5, 0, Disposition.KEEP_SYNC),
            WaterfallCall("email", text("email via smtp"), 120.4, 2910.3, 0, Disposition.DEFER),
            WaterfallCall(
                "http",
                text("POST api.hubapi.com/crm/v3/objects/contacts/{id}"),
                3031.0,
                840.1,
                0,
                Disposition.DEFER,
            ),
            WaterfallCall("http", "POST hooks.slack.com/services/{id}", 3100.0, 120.0, 1, Disposition.DEFER),
        ],
    )
    return Report(
        generated_at="2026-11-28T00:00:00+00:00",
        sources=Sources(
            kind="recorded",
            paths=[text("recordings/")],
            files=3,
            records=5775,
            calls=9120,
            skipped_lines=1,
            hosts=["web-1", text("web-2")],
            processes=6,
            first_ts=1764300000.0,
            last_ts=1764386400.0,
            calls_dropped=4,
            records_lost=0,
            requests_unsampled=0,
            source_root=str(source_root) if source_root else None,
            notes=[text("Requests served by the cache layer are not recorded.")],
        ),
        budgets=Budgets(),
        endpoints=endpoints,
        findings=findings,
        capacity=Capacity(
            window_s=86_400.0,
            requests=5775,
            worker_s_total=1_520.0,
            worker_s_deferrable=685.0,
            workers=8,
            busy_workers_now=0.0176,
            busy_workers_after=0.0097,
            share_freed=0.45,
        ),
        examples=[example],
        title=text("Acme Shop: background-work audit"),
        client=text("Acme Ltd"),
    )


def empty_report() -> Report:
    """No requests at all: every renderer must still produce a valid document."""
    return Report(generated_at="2026-11-28T00:00:00+00:00", sources=Sources(), budgets=Budgets())
