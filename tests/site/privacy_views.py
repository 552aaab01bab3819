"""Views of the test site that handle what must never reach a record: secrets in the path, the query
string, headers, cookies, the body, SQL parameters and literals, and email addresses."""

from __future__ import annotations

import requests
from django.core import mail
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from tests.site.models import Note

SECRETS = {
    "path_email": "mallory@example.com",
    "path_token": "tok_9fQ2xLm7Pw4sZ8",
    "query": "qs-secret-7f3a",
    "query_email": "query.person@example.com",
    "header": "hdr-secret-5b1c",
    "cookie": "cookie-secret-2d9e",
    "body": "body-password-8c4d",
    "sql_param": "sql-param-secret-6e0f",
    "sql_literal": "sql-literal-secret-1a7b",
    "sql_email": "sql.person@example.com",
    "url_user": "apiuser",
    "url_password": "url-password-3c5e",
    "url_query": "outbound-query-secret-4d6f",
    "url_email": "outbound.person@example.com",
    "mail_to": "recipient.person@example.com",
    "mail_from": "sender.person@example.com",
    "mail_subject": "mail-subject-secret-9a8b",
}


@csrf_exempt
def account(request: HttpRequest, email: str, token: str) -> JsonResponse:
    """Takes secrets from everywhere a request carries them, and puts them into SQL, HTTP and email."""
    s = SECRETS
    body = request.body.decode()
    Note.objects.create(text=request.GET.get("q", "") + body)
    found = Note.objects.filter(text=s["sql_email"]).count()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM testsite_note WHERE text = %s OR text = '{s['sql_literal']}'",
            [s["sql_param"]],
        )
        cursor.fetchone()
    port = request.GET["port"]
    url = (
        f"http://{s['url_user']}:{s['url_password']}@127.0.0.1:{port}/accounts/{s['url_email']}/"
        f"{s['path_token']}?secret={s['url_query']}&to={s['url_email']}"
    )
    status = requests.get(url, timeout=5).status_code
    sent = mail.send_mail(f"Reset {s['mail_subject']}", body, s["mail_from"], [s["mail_to"], email])
    return JsonResponse({"found": found, "status": status, "sent": sent, "token": len(token)})


urlpatterns = [
    path("accounts/<str:email>/reset/<str:token>/", account),
]
