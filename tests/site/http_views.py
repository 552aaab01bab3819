"""Views of the test site that call out over HTTP, one client library each.

The target is a fake API on 127.0.0.1 whose port comes in the query string. Every outbound URL carries what
must never be recorded: credentials, a query string, an email address and identifiers in the path. Lines that
make the outbound call end in a ``# call: <name>`` marker, so tests can find the line the call site must be.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import Any

import requests
import urllib3
from django.db.models.signals import post_save
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from async_audit import track
from tests.site.models import Note

SECRET_PATH = "/v1/customers/cus_9s6XKzkNRiz8i3/contacts/alice@example.com/42"
SECRET_QUERY = "api_key=sk_live_hunter2&email=bob@example.com"


def _url(request: HttpRequest, credentials: bool = True) -> str:
    port = int(request.GET["port"])
    endpoint = request.GET.get("endpoint", "ok")
    auth = "user:hunter2@" if credentials else ""
    return f"http://{auth}127.0.0.1:{port}/{endpoint}{SECRET_PATH}?{SECRET_QUERY}"


def _timeout(request: HttpRequest) -> Any:
    value = request.GET.get("timeout", "none")
    if value == "none":
        return None
    if value == "pair":
        return (3.0, 7.5)
    return int(value) if value.isdigit() else float(value)


def _result(status: int, body: bytes | str) -> JsonResponse:
    text = body.decode() if isinstance(body, bytes) else body
    return JsonResponse({"status": status, "body": text})


def via_requests(request: HttpRequest) -> JsonResponse:
    method = request.GET.get("method", "GET")
    response = requests.request(method, _url(request), timeout=_timeout(request), data=b"x")  # call: requests
    return _result(response.status_code, response.content)


def via_urllib(request: HttpRequest) -> JsonResponse:
    method = request.GET.get("method", "GET")
    outbound = urllib.request.Request(_url(request, credentials=False), method=method)
    timeout = _timeout(request)
    try:
        if timeout is None:
            response = urllib.request.urlopen(outbound)  # call: urllib-default
        else:
            response = urllib.request.urlopen(outbound, timeout=timeout)  # call: urllib
    except urllib.error.HTTPError as exc:
        return _result(exc.code, exc.read())
    with response:
        return _result(response.status, response.read())


def via_urllib3(request: HttpRequest) -> JsonResponse:
    pool = urllib3.PoolManager()
    timeout = _timeout(request)
    statuses = []
    for _ in range(int(request.GET.get("n", "1"))):
        response = pool.request("GET", _url(request), timeout=urllib3.Timeout(read=timeout))  # call: urllib3
        statuses.append(response.status)
    pool.clear()
    return JsonResponse({"statuses": statuses})


def via_http_client(request: HttpRequest) -> JsonResponse:
    """Raw ``http.client``, by ``mode``.

    ``request``: ``n`` requests on one keep-alive connection; ``put``: putrequest, putheader, endheaders;
    ``handwritten``: a request written with ``send`` and read by hand; ``abandon``: no getresponse, then
    close; ``abandon_next``: no getresponse, then another request.
    """
    port = int(request.GET["port"])
    mode = request.GET.get("mode", "request")
    target = f"/{request.GET.get('endpoint', 'ok')}{SECRET_PATH}?{SECRET_QUERY}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=_timeout(request))
    statuses: list[Any] = []
    try:
        if mode == "request":
            for _ in range(int(request.GET.get("n", "1"))):
                conn.request("POST", target, body=b"{}")  # call: http.client
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
        elif mode == "put":
            conn.putrequest("DELETE", target)  # call: putrequest
            conn.putheader("Content-Length", "0")
            conn.endheaders()
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        elif mode == "handwritten":
            # Written and read by hand, as proxies' CONNECT code does: getresponse is never called.
            conn.connect()
            raw = f"PATCH {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
            conn.send(raw)  # call: send
            response = http.client.HTTPResponse(conn.sock, method="PATCH")  # type: ignore[arg-type]
            response.begin()
            response.read()
            statuses.append(response.status)
        elif mode == "abandon":
            conn.request("PUT", target, body=b"{}")  # call: abandon
        elif mode == "abandon_next":
            conn.request("PUT", target, body=b"{}")
            try:
                conn.request("GET", target)
            except http.client.CannotSendRequest as exc:
                statuses.append(type(exc).__name__)
    finally:
        conn.close()
    return JsonResponse({"statuses": statuses})


def via_https_client(request: HttpRequest) -> JsonResponse:
    """An HTTPS connection to a plain-HTTP server: the TLS handshake fails inside ``connect``."""
    conn = http.client.HTTPSConnection("127.0.0.1", int(request.GET["port"]), timeout=5)
    try:
        conn.request("GET", f"/ok{SECRET_PATH}?{SECRET_QUERY}")  # call: https
        return JsonResponse({"status": conn.getresponse().status})
    except OSError as exc:
        return JsonResponse({"error": type(exc).__name__})
    finally:
        conn.close()


def via_requests_https(request: HttpRequest) -> JsonResponse:
    """requests over HTTPS to a closed port: urllib3 connects before it writes the request, and fails."""
    url = f"https://user:hunter2@127.0.0.1:{int(request.GET['port'])}{SECRET_PATH}?{SECRET_QUERY}"
    try:
        requests.post(url, timeout=(2, 9))  # call: requests-https
    except requests.ConnectionError as exc:
        return JsonResponse({"error": type(exc).__name__})
    return JsonResponse({"error": None})


def via_requests_proxy(request: HttpRequest) -> JsonResponse:
    """Plain HTTP through a forwarding proxy (the fake API plays it): the request line holds the whole URL."""
    proxy = f"http://127.0.0.1:{int(request.GET['port'])}"
    url = f"http://user:hunter2@api.example.org:8080/ok{SECRET_PATH}?{SECRET_QUERY}"
    response = requests.get(url, proxies={"http": proxy}, timeout=5)  # call: proxy
    return _result(response.status_code, response.content)


def raises(request: HttpRequest) -> HttpResponse:
    """Lets the client's error propagate: the site's own exception must reach Django unchanged."""
    requests.get(_url(request), timeout=2)
    return HttpResponse("unreachable")


def tracked(request: HttpRequest) -> JsonResponse:
    with track("notify crm"):
        response = requests.get(_url(request), timeout=5)  # call: tracked
    return _result(response.status_code, response.content)


def _notify(sender: type[Note], instance: Note, created: bool, **kwargs: Any) -> None:
    url = getattr(instance, "notify_url", None)
    if url:
        requests.post(url, json={"note": instance.pk}, timeout=4)  # call: signal


post_save.connect(_notify, sender=Note, dispatch_uid="tests.site.http_views.notify")


def saves_note(request: HttpRequest) -> HttpResponse:
    note = Note(text="hello")
    note.notify_url = _url(request)  # type: ignore[attr-defined]
    note.save()  # call: save
    return HttpResponse("saved")


def via_httpx(request: HttpRequest) -> JsonResponse:
    import httpx

    value = request.GET.get("timeout", "default")
    kwargs: dict[str, Any] = {} if value == "default" else {"timeout": _timeout(request)}
    try:
        with httpx.Client(**kwargs) as client:
            response = client.request(request.GET.get("method", "GET"), _url(request))  # call: httpx
    except httpx.HTTPError as exc:
        return JsonResponse({"error": type(exc).__name__})
    return _result(response.status_code, response.content)


def via_httpx_over_urllib3(request: HttpRequest) -> JsonResponse:
    """An httpx client whose transport is urllib3: one request, two instrumented layers, one call."""
    import httpx

    class Urllib3Transport(httpx.BaseTransport):
        def __init__(self) -> None:
            self.pool = urllib3.PoolManager()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raw = self.pool.request(request.method, str(request.url), body=request.read())
            return httpx.Response(raw.status, content=raw.data)

    with httpx.Client(transport=Urllib3Transport()) as client:
        response = client.get(_url(request))  # call: httpx-urllib3
    return _result(response.status_code, response.content)


async def via_httpx_async(request: HttpRequest) -> JsonResponse:
    import httpx

    value = request.GET.get("timeout", "default")
    kwargs: dict[str, Any] = {} if value == "default" else {"timeout": _timeout(request)}
    try:
        async with httpx.AsyncClient(**kwargs) as client:
            method = request.GET.get("method", "GET")
            response = await client.request(method, _url(request))  # call: httpx-async
    except httpx.HTTPError as exc:
        return JsonResponse({"error": type(exc).__name__})
    return _result(response.status_code, response.content)


async def _aiohttp_fetch(request: HttpRequest) -> JsonResponse:
    import aiohttp

    value = request.GET.get("timeout", "default")
    kwargs: dict[str, Any] = {}
    if value == "none":
        kwargs["timeout"] = aiohttp.ClientTimeout(total=None)
    elif value != "default":
        kwargs["timeout"] = aiohttp.ClientTimeout(total=None, sock_read=float(value))
    try:
        async with aiohttp.ClientSession(**kwargs) as session:
            method = request.GET.get("method", "GET")
            async with session.request(method, _url(request, credentials=False)) as response:  # call: aiohttp
                body = await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return JsonResponse({"error": type(exc).__name__})
    return _result(response.status, body)


async def via_aiohttp(request: HttpRequest) -> JsonResponse:
    return await _aiohttp_fetch(request)


def via_aiohttp_sync(request: HttpRequest) -> JsonResponse:
    """aiohttp driven from a sync view with its own event loop."""
    return asyncio.run(_aiohttp_fetch(request))


def via_stripe(request: HttpRequest) -> JsonResponse:
    import stripe

    stripe.api_key = "sk_test_hunter2secret"
    stripe.api_base = f"http://127.0.0.1:{int(request.GET['port'])}"
    customer = stripe.Customer.retrieve("cus_9s6XKzkNRiz8i3")  # call: stripe
    return JsonResponse({"id": customer.id})


def via_elasticsearch(request: HttpRequest) -> JsonResponse:
    from elasticsearch import Elasticsearch

    client = Elasticsearch(f"http://127.0.0.1:{int(request.GET['port'])}", request_timeout=6)
    document = {"email": "carol@example.com"}
    result = client.index(index="notes", id="8841", document=document)  # call: elasticsearch
    client.close()
    return JsonResponse({"result": result.body})


def via_botocore(request: HttpRequest) -> JsonResponse:
    import botocore.session

    session = botocore.session.get_session()
    s3 = session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{int(request.GET['port'])}",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="hunter2secretkey",
    )
    result = s3.put_object(Bucket="invoices", Key="2024/88123", Body=b"%PDF")  # call: botocore
    return JsonResponse({"status": result["ResponseMetadata"]["HTTPStatusCode"]})


def refused_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(json.dumps({"ok": True}), content_type="application/json")


urlpatterns = [
    path("requests/", via_requests),
    path("requests-https/", via_requests_https),
    path("urllib/", via_urllib),
    path("urllib3/", via_urllib3),
    path("http-client/", via_http_client),
    path("https-client/", via_https_client),
    path("requests-proxy/", via_requests_proxy),
    path("raises/", raises),
    path("tracked/", tracked),
    path("saves-note/", saves_note),
    path("httpx/", via_httpx),
    path("httpx-urllib3/", via_httpx_over_urllib3),
    path("httpx-async/", via_httpx_async),
    path("aiohttp/", via_aiohttp),
    path("aiohttp-sync/", via_aiohttp_sync),
    path("stripe/", via_stripe),
    path("elasticsearch/", via_elasticsearch),
    path("botocore/", via_botocore),
    path("page/", page),
]
