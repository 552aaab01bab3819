"""Views of the test site that send email and enqueue tasks, one way each.

Addresses, subjects and bodies carry what must never be recorded (email addresses, a secret). Task systems
are optional: each one's task exists only when its library is installed. Every task body sends an email, so
tests can check that work a backend runs inside the request is recorded under its enqueue.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage as StdEmailMessage
from typing import Any

from asgiref.sync import sync_to_async
from django.core import mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

FROM = "shop@example.com"
TO = ["alice@example.com", "bob@example.com"]
SECRET = "hunter2-mail-secret"

# Tests hand a view what it cannot take from the request: a queue, a function to run inside a request.
STATE: dict[str, Any] = {}


def mail_connection() -> Any:
    """The default mail connection: ``mailers.default`` on Django >= 6.1, ``get_connection()`` before."""
    mailers = getattr(mail, "mailers", None)
    if mailers is not None:
        return mailers.default
    return mail.get_connection()


def send_one(request: HttpRequest) -> JsonResponse:
    sent = mail.send_mail(f"Welcome {SECRET}", f"Hello {SECRET}", FROM, TO)
    return JsonResponse({"sent": sent})


def send_mass(request: HttpRequest) -> JsonResponse:
    sent = mail.send_mass_mail(
        (
            ("One", f"Body {SECRET}", FROM, ["carol@example.com"]),
            ("Two", f"Body {SECRET}", FROM, ["dave@example.com", "erin@example.com"]),
        )
    )
    return JsonResponse({"sent": sent})


def send_message(request: HttpRequest) -> JsonResponse:
    message = mail.EmailMultiAlternatives(
        "Invoice", "text", FROM, ["frank@example.com"], cc=["grace@example.com"], bcc=["heidi@example.com"]
    )
    message.attach_alternative(f"<p>{SECRET}</p>", "text/html")
    return JsonResponse({"sent": message.send()})


def admins(request: HttpRequest) -> HttpResponse:
    mail.mail_admins("Alert", f"Something happened {SECRET}")
    return HttpResponse("ok")


def connection(request: HttpRequest) -> JsonResponse:
    messages = [mail.EmailMessage("A", "a", FROM, [to]) for to in TO]
    with mail_connection() as conn:
        sent = conn.send_messages(messages)
    return JsonResponse({"sent": sent})


def smtplib_direct(request: HttpRequest) -> HttpResponse:
    message = StdEmailMessage()
    message["From"] = FROM
    message["To"] = ", ".join(TO)
    message["Subject"] = "Direct"
    message.set_content(f"Body {SECRET}")
    with smtplib.SMTP("127.0.0.1", int(request.GET["port"]), timeout=5) as smtp:
        smtp.send_message(message)
        smtp.sendmail(FROM, "ivan@example.com", f"Subject: raw\r\n\r\n{SECRET}")
    return HttpResponse("ok")


async def async_send(request: HttpRequest) -> JsonResponse:
    sent = await sync_to_async(mail.send_mail)("Async", f"Body {SECRET}", FROM, TO)
    return JsonResponse({"sent": sent})


def run(request: HttpRequest) -> HttpResponse:
    """Run the function a test left in ``STATE["run"]`` inside a recorded request."""
    function: Callable[[], Any] = STATE.pop("run")
    return HttpResponse(str(function()))


def notify(n: int) -> int:
    """The work every task does: one email."""
    mail.send_mail("Task mail", f"Task {SECRET}", FROM, ["judy@example.com"])
    return n


try:
    from celery import Celery
except ImportError:  # pragma: no cover - celery is absent on this stack
    celery_app = None
else:
    celery_app = Celery("tests", broker="memory://", backend="cache+memory://", set_as_current=False)
    celery_app.conf.task_default_queue = "web"

    @celery_app.task(name="tests.site.mail_task_views.celery_notify")
    def celery_notify(n: int) -> int:
        return notify(n)


def celery_view(request: HttpRequest) -> HttpResponse:
    if request.GET.get("on_commit"):
        with transaction.atomic():
            celery_notify.delay_on_commit(1)
    else:
        celery_notify.delay(1)
    celery_notify.apply_async((2,), queue="priority")
    return HttpResponse("ok")


def rq_view(request: HttpRequest) -> HttpResponse:
    job = STATE["rq_queue"].enqueue(notify, 1)
    return HttpResponse(job.id)


try:
    from django.tasks import task as django_task
except ImportError:
    try:
        from django_tasks import task as django_task
    except ImportError:  # pragma: no cover - neither Django >= 6.0 nor the backport
        django_task = None

if django_task is not None:

    @django_task()
    def django_notify(n: int) -> int:
        return notify(n)


def django_tasks_view(request: HttpRequest) -> HttpResponse:
    result = django_notify.enqueue(1)
    return HttpResponse(str(result.status))


async def django_tasks_async_view(request: HttpRequest) -> HttpResponse:
    result = await django_notify.aenqueue(2)
    return HttpResponse(str(result.status))


try:
    import dramatiq
    from dramatiq.brokers.stub import StubBroker
except ImportError:  # pragma: no cover
    dramatiq_broker = None
else:
    dramatiq_broker = StubBroker()

    @dramatiq.actor(broker=dramatiq_broker, queue_name="mail")
    def dramatiq_notify(n: int) -> int:
        return notify(n)


def dramatiq_view(request: HttpRequest) -> HttpResponse:
    message = dramatiq_notify.send(1)
    return HttpResponse(message.message_id)


try:
    from huey import MemoryHuey
except ImportError:  # pragma: no cover
    huey_app = None
else:
    huey_app = MemoryHuey("tests-huey", immediate=True)

    @huey_app.task()
    def huey_notify(n: int) -> int:
        return notify(n)


def huey_view(request: HttpRequest) -> HttpResponse:
    huey_notify(1)
    return HttpResponse("ok")


def django_q_view(request: HttpRequest) -> HttpResponse:
    from django_q.tasks import async_task

    task_id = async_task("tests.site.mail_task_views.notify", 1, sync=bool(request.GET.get("sync")))
    return HttpResponse(task_id)


urlpatterns = [
    path("send-mail/", send_one),
    path("mass/", send_mass),
    path("message/", send_message),
    path("admins/", admins),
    path("connection/", connection),
    path("smtplib/", smtplib_direct),
    path("async-send/", async_send),
    path("run/", run),
    path("celery/", celery_view),
    path("rq/", rq_view),
    path("django-tasks/", django_tasks_view),
    path("django-tasks-async/", django_tasks_async_view),
    path("dramatiq/", dramatiq_view),
    path("huey/", huey_view),
    path("django-q/", django_q_view),
]
