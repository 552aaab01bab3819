"""Views for the security tests: outbound calls carrying every kind of URL secret (credentials, query
tokens, S3 presigned URLs, tokens and addresses in paths), through requests, httpx and urllib."""

from __future__ import annotations

import urllib.request

import httpx
import requests
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

URL_SECRETS = {
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "amz_signature": "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
    "amz_security_token": "IQoJb3JpZ2luX2VjEJr-security-token-value",
    "object_owner": "carol.customer@example.org",
    "reset_token": "Zx9Qw8Er7Ty6Ui5Op4As",
    "api_key": "sk_live_51HxQkLmNoPqRsTuV",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYXJvbCJ9.c2lnbmF0dXJlLXZhbHVl",
    "gcs_signature": "gcs-signature-9d8c7b",
    "url_password": "url-password-in-authority-7e6d",
    "incoming_token": "incoming-query-token-5c4b",
    "incoming_path_token": "Pq7Rs8Tu9Vw0Xy1Za2Bc",
}


def presigned_s3(port: int) -> str:
    s = URL_SECRETS
    return (
        f"http://127.0.0.1:{port}/ledgerly-uploads/invoices/{s['object_owner']}/invoice-20261128.pdf"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={s['aws_access_key']}%2F20261128%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20261128T010000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
        f"&X-Amz-Security-Token={s['amz_security_token']}&X-Amz-Signature={s['amz_signature']}"
    )


def outbound(request: HttpRequest, token: str) -> JsonResponse:
    """Calls the stand-in API with secrets in every part of the URL."""
    s = URL_SECRETS
    port = int(request.GET["port"])
    statuses = [
        requests.put(presigned_s3(port), data=b"%PDF-1.7", timeout=5).status_code,
        httpx.get(
            f"http://127.0.0.1:{port}/password-reset/{s['reset_token']}/confirm/?api_key={s['api_key']}",
            timeout=5,
        ).status_code,
    ]
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/hooks/{s['jwt']}?sig={s['gcs_signature']}#frag", timeout=5
    ) as response:
        statuses.append(response.status)
    statuses.append(
        requests.get(f"http://svc:{s['url_password']}@127.0.0.1:{port}/v1/status", timeout=5).status_code
    )
    return JsonResponse({"statuses": statuses, "token": len(token)})


urlpatterns = [
    path("security/outbound/<str:token>/", outbound),
    path("", include("tests.site.urls")),
]
