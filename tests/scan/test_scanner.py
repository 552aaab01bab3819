from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from async_audit.analyze.model import Category, Disposition, Finding, FindingKind, Report, Severity
from async_audit.errors import InputError
from async_audit.scan import scan_project

SHOP = Path(__file__).parent / "projects" / "shop"
_MARK = re.compile(r"# scan: ([a-z_ ]+)$")


@pytest.fixture(scope="module")
def shop() -> Report:
    return scan_project(SHOP)


def _marked(root: Path) -> set[tuple[str, int, str]]:
    """``(file, line, kind)`` for every ``# scan: kind ...`` comment under ``root``."""
    expected = set()
    for path in root.rglob("*.py"):
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            match = _MARK.search(text)
            if match:
                for kind in match.group(1).split():
                    expected.add((path.relative_to(root).as_posix(), number, kind))
    return expected


def _at(report: Report, file: str, line: int, kind: str = "defer") -> Finding:
    found = [f for f in report.findings if (f.site.file, f.site.line, f.kind.value) == (file, line, kind)]
    assert len(found) == 1, [(f.site, f.kind) for f in report.findings]
    return found[0]


def test_finds_exactly_the_marked_calls(shop: Report) -> None:
    found = {(f.site.file, f.site.line, f.kind.value) for f in shop.findings}
    expected = _marked(SHOP)
    assert found - expected == set(), "unexpected findings"
    assert expected - found == set(), "missed findings"


def test_report_is_static_and_json_safe(shop: Report) -> None:
    assert shop.sources.kind == "static"
    assert shop.sources.files == 16
    assert shop.sources.source_root == str(SHOP)
    assert shop.endpoints == []
    for finding in shop.findings:
        assert finding.source == "static"
        assert finding.mean_ms == finding.p95_ms == finding.savings_ms_per_request == 0.0
        assert finding.count == 1
    assert [f.priority for f in shop.findings] == list(range(1, len(shop.findings) + 1))
    data = json.loads(json.dumps(shop.to_dict()))
    assert data["sources"]["kind"] == "static"
    # Management commands and task bodies are not request code (the marker test shows they are not reported).
    assert any("management commands, task bodies" in note for note in shop.sources.notes)


def test_routes_from_urlconf_includes_and_router(shop: Report) -> None:
    signup = _at(shop, "store/views.py", 23)
    assert (signup.method, signup.route, signup.view) == ("POST", "signup/", "store.views.signup")
    legacy = _at(shop, "store/signals.py", 19)
    assert legacy.route == r"^legacy/(?P<slug>[-\w]+)/$"
    payment = _at(shop, "api/views.py", 16, "keep_sync")
    assert (payment.method, payment.route) == ("POST", "api/^orders/$")
    assert payment.view == "api.views.OrderViewSet"
    action = _at(shop, "api/views.py", 20)
    assert (action.method, action.route) == ("POST", "api/^orders/(?P<pk>[^/.]+)/publish/$")


def test_aliased_imports_and_mail_module(shop: Report) -> None:
    aliased = _at(shop, "store/views.py", 23)  # from django.core import mail as dj_mail
    assert (aliased.category, aliased.lib) == (Category.EMAIL, "django.mail")
    assert aliased.target == "django.core.mail.backends.smtp.EmailBackend"
    crm = _at(shop, "store/views.py", 24)  # import requests as rq; the URL from settings
    assert (crm.category, crm.via, crm.lib) == (Category.API_WRITE, "requests", "http.client")
    assert crm.rule == "builtin:crm"


def test_lambda_passed_to_on_commit(shop: Report) -> None:
    finding = _at(shop, "store/views.py", 27)
    assert finding.site.function == "signup"
    assert finding.evidence["on_commit"] is True
    assert "on_commit" in finding.reason


def test_method_of_a_helper_class_and_deep_helpers(shop: Report) -> None:
    ping = _at(shop, "store/notify.py", 11)
    assert ping.site.function == "Notifier.ping"
    assert [(s.file, s.function) for s in ping.stack] == [
        ("store/notify.py", "Notifier.ping"),
        ("store/views.py", "signup"),
    ]
    deep = _at(shop, "store/notify.py", 23)
    assert deep.site.function == "deep_two.<locals>.send"
    chain = deep.evidence["entry_points"][0]["chain"]
    assert chain == [
        "store.views.signup",
        "store.notify.deep_one",
        "store.notify.deep_two",
        "store.notify.deep_two.<locals>.send",
    ]


def test_depth_limit_stops_the_chain() -> None:
    shallow = scan_project(SHOP, max_depth=2)
    sites = {(f.site.file, f.site.line) for f in shallow.findings}
    assert ("store/notify.py", 11) in sites  # one call away
    assert ("store/notify.py", 23) not in sites  # three calls away


def test_model_save_override_and_receivers_inside_atomic(shop: Report) -> None:
    warehouse = _at(shop, "store/models.py", 7)
    assert warehouse.atomic is True
    assert warehouse.route == "checkout/"
    assert "signal" not in " ".join(warehouse.evidence["entry_points"][0]["chain"])
    slack = _at(shop, "store/signals.py", 14)
    assert slack.atomic is True
    assert slack.category is Category.NOTIFICATION
    assert any("signal post_save" in hop for hop in slack.evidence["entry_points"][0]["chain"])
    assert [s.file for s in slack.stack] == ["store/signals.py", "store/views.py"]
    plain = _at(shop, "store/views.py", 23)
    assert plain.atomic is False


def test_delete_in_a_loop_reaches_connected_receiver_as_batch(shop: Report) -> None:
    upload = _at(shop, "store/signals.py", 19)
    assert upload.category is Category.STORAGE
    assert upload.disposition is Disposition.DEFER  # storage is "review"; its result is unused
    batch = _at(shop, "store/signals.py", 19, "batch")
    assert batch.severity is Severity.HIGH


def test_forms_save_and_generic_create_view(shop: Report) -> None:
    sms = _at(shop, "store/forms.py", 13)
    assert sms.category is Category.NOTIFICATION
    assert sms.view == "store.views.contact"
    indexed = _at(shop, "store/search.py", 13)  # ProfileCreate -> ProfileForm.save -> index_profile
    assert indexed.view == "store.views.ProfileCreate"
    assert indexed.category is Category.SEARCH_INDEX
    chain = indexed.evidence["entry_points"][0]["chain"]
    assert chain[0] == "store.views.ProfileCreate.form_valid (inherited)"


def test_result_reaching_the_response_keeps_it(shop: Report) -> None:
    rates = _at(shop, "store/views.py", 52, "keep_sync")
    assert rates.evidence["reaches_response"] is True
    assert rates.disposition is Disposition.KEEP_SYNC


def test_no_timeout_and_task_enqueue(shop: Report) -> None:
    no_timeout = _at(shop, "store/views.py", 24, "no_timeout")
    assert no_timeout.rule == "static:no-timeout"
    enqueue = _at(shop, "store/views.py", 25)
    assert (enqueue.category, enqueue.disposition, enqueue.severity) == (
        Category.TASK,
        Disposition.DEFERRED,
        Severity.INFO,
    )
    assert enqueue.lib == "celery"


def test_unreadable_files_are_skipped_and_counted(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    (root / "store" / "broken.py").write_text("def broken(:\n    pass\n")
    (root / "store" / "undeclared.py").write_bytes(b'import requests\nNAME = "caf\xe9, no coding line"\n')
    (root / "store" / "declared.py").write_bytes(
        b"# -*- coding: latin-1 -*-\nimport time\n\n\ndef caf\xe9(request):\n    time.sleep(1)\n"
    )
    report = scan_project(root)
    assert report.sources.files == 19
    assert report.sources.skipped_lines == 4
    assert any("2 files skipped" in note and "store/broken.py" in note for note in report.sources.notes)
    # The declared latin-1 module parses; nothing routes to its function, so the findings are unchanged.
    assert {(f.site.file, f.site.line, f.kind.value) for f in report.findings} == {
        (f.site.file, f.site.line, f.kind.value) for f in scan_project(SHOP).findings
    }


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="PEP 695 syntax parses on 3.12")
def test_newer_syntax_is_skipped_on_older_pythons(tmp_path: Path) -> None:
    (tmp_path / "views.py").write_text("type Pair = tuple[int, int]\n")
    report = scan_project(tmp_path)
    assert report.sources.skipped_lines == 1


def test_progress_and_bad_root(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    scan_project(SHOP, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (16, 16)
    assert [done for done, _ in calls] == list(range(1, 17))
    with pytest.raises(InputError):
        scan_project(tmp_path / "missing")


def _project(tmp_path: Path, views: str, settings: str = "") -> Report:
    """A one-app project whose ``app/views.py`` holds ``view``, routed at ``x/``."""
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "settings.py").write_text('ROOT_URLCONF = "app.urls"\n' + settings)
    (tmp_path / "app" / "urls.py").write_text(
        "from django.urls import path\nfrom . import views\nurlpatterns = [path('x/', views.view)]\n"
    )
    (tmp_path / "app" / "views.py").write_text(views)
    return scan_project(tmp_path)


def _kinds(report: Report) -> set[tuple[int, str, str]]:
    return {(f.site.line or 0, f.kind.value, f.category.value) for f in report.findings}


def test_http_clients_and_timeouts(tmp_path: Path) -> None:
    report = _project(
        tmp_path,
        "import httpx, requests, urllib3\n"
        "def view(request):\n"
        "    s = requests.Session()\n"
        "    s.put('https://api.example.com/a')\n"  # 4: no timeout
        "    httpx.post('https://api.example.com/b')\n"  # 5: httpx's 5 s default
        "    httpx.Client(timeout=None).post('https://api.example.com/c')\n"  # 6: explicitly none
        "    urllib3.PoolManager().request('POST', 'https://api.example.com/d')\n"  # 7
        "    requests.delete('https://api.example.com/e', **{'timeout': 3})\n",  # 8: may carry one
    )
    kinds = _kinds(report)
    assert (4, "no_timeout", "api_write") in kinds
    assert not any(line == 5 and kind == "no_timeout" for line, kind, _ in kinds)
    assert (6, "no_timeout", "api_write") in kinds
    assert (7, "no_timeout", "api_write") in kinds
    assert {line for line, kind, _ in kinds if kind == "defer"} == {4, 5, 6, 7, 8}


def test_sdks_and_mail_forms(tmp_path: Path) -> None:
    report = _project(
        tmp_path,
        "import stripe\n"
        "from django.core.mail import EmailMessage\n"
        "from elasticsearch import Elasticsearch, helpers\n"
        "ES = Elasticsearch('http://localhost:9200')\n"
        "def view(request):\n"
        "    stripe.Customer.retrieve('cus_1')\n"  # 6: payment, kept
        "    EmailMessage('s', 'b', 'f@example.com', ['t@example.com']).send()\n"  # 7
        "    request.user.email_user('s', 'b')\n"  # 8
        "    helpers.bulk(ES, [])\n"  # 9
        "    ES.search(index='x', query={})\n",  # 10: a query whose result is unused
    )
    kinds = _kinds(report)
    assert (6, "keep_sync", "payment") in kinds
    assert (7, "defer", "email") in kinds
    assert (8, "defer", "email") in kinds
    assert (9, "defer", "search_index") in kinds
    assert (10, "defer", "search_query") in kinds


def test_inline_task_backend_is_fake_async_and_its_work_is_followed(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "tasks.py").write_text(
        "from celery import shared_task\n"
        "from django.core.mail import send_mail\n"
        "@shared_task\n"
        "def welcome(pk):\n"
        "    send_mail('s', 'b', 'f@example.com', ['t@example.com'])\n"
    )
    report = _project(
        tmp_path,
        "from .tasks import welcome\ndef view(request):\n    welcome.delay(1)\n",
        settings="CELERY_TASK_ALWAYS_EAGER = True\n",
    )
    fake = _at(report, "app/views.py", 3, "fake_async")
    assert fake.severity is Severity.HIGH
    assert "CELERY_TASK_ALWAYS_EAGER" in fake.reason
    inline = _at(report, "app/tasks.py", 5)
    assert inline.route == "x/"


def test_unrouted_views_and_receivers_still_reported(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "views.py").write_text(
        "import requests\n"
        "from django.views import View\n"
        "class Hook(View):\n"
        "    def post(self, request):\n"
        "        requests.post('https://hooks.example.com', timeout=2)\n"
    )
    (tmp_path / "app" / "signals.py").write_text(
        "import time\n"
        "from django.dispatch import Signal, receiver\n"
        "paid = Signal()\n"
        "@receiver(paid)\n"
        "def on_paid(sender, **kwargs):\n"
        "    time.sleep(2)\n"
    )
    report = scan_project(tmp_path)
    hook = _at(report, "app/views.py", 5)
    assert (hook.route, hook.view, hook.method) == (None, "app.views.Hook", "POST")
    sleep = _at(report, "app/signals.py", 6)
    assert sleep.evidence["entry_points"][0]["kind"] == "receiver"
    assert sleep.severity is Severity.LOW  # no view was found that sends the signal
    assert FindingKind.DEFER is sleep.kind


def test_method_from_an_early_return_guard(tmp_path: Path) -> None:
    report = _project(
        tmp_path,
        "import requests\n"
        "from django.shortcuts import redirect, render\n"
        "def view(request):\n"
        "    if request.method != 'POST':\n"
        "        return render(request, 'form.html')\n"
        "    requests.post('https://hooks.example.com/x', timeout=2)\n"
        "    return redirect('/')\n",
    )
    assert _at(report, "app/views.py", 6).method == "POST"


def test_task_systems_and_boto3_services(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "jobs.py").write_text(
        "import dramatiq\n"
        "from huey.contrib.djhuey import db_task\n"
        "@dramatiq.actor\n"
        "def crunch(pk):\n"
        "    pass\n"
        "@db_task()\n"
        "def thumbnail(pk):\n"
        "    pass\n"
    )
    report = _project(
        tmp_path,
        "import boto3, django_rq\n"
        "from django_q.tasks import async_task\n"
        "from .jobs import crunch, thumbnail\n"
        "def view(request):\n"
        "    crunch.send(1)\n"  # 5
        "    thumbnail(1)\n"  # 6: calling a huey task enqueues it
        "    django_rq.get_queue('default').enqueue(print, 1)\n"  # 7
        "    async_task('app.jobs.crunch', 1)\n"  # 8
        "    boto3.client('ses').send_email(Source='a@example.com')\n"  # 9
        "    boto3.client('s3').get_object(Bucket='b', Key='k')\n",  # 10: a read, not reported
    )
    libs = {(f.site.line, f.lib) for f in report.findings if f.category is Category.TASK}
    assert libs == {(5, "dramatiq"), (6, "huey"), (7, "rq"), (8, "django_q")}
    assert (9, "defer", "email") in _kinds(report)
    assert not any(line == 10 for line, _, _ in _kinds(report))


def test_method_is_decided_per_call_in_one_function_view(tmp_path: Path) -> None:
    report = _project(
        tmp_path,
        "import requests\n"
        "from django.core.mail import send_mail\n"
        "from django.shortcuts import redirect, render\n"
        "def view(request):\n"
        "    if request.method == 'POST':\n"
        "        send_mail('s', 'b', 'f@example.com', ['t@example.com'])\n"  # 6
        "        return redirect('/')\n"
        "    requests.post('https://hooks.example.com/seen', timeout=2)\n"  # 8
        "    return render(request, 'form.html')\n",
    )
    assert _at(report, "app/views.py", 6).method == "POST"
    assert _at(report, "app/views.py", 8).method == "GET"
