"""Which calls are slow: Django's mail API, HTTP clients, the common SDKs, subprocesses, sleeps, enqueues.

A call is recognised by its resolved callee, a tuple of name parts in which ``"()"`` marks the result of a
call and ``"[]"`` a subscript: ``requests.post`` is ``("requests", "post")``, ``httpx.Client().post``
(directly or through a variable) is ``("httpx", "Client", "()", "post")``. What is recognised is described
with the facts the recorder writes (``kind``, ``lib``, ``via``, ``host``, ``method``, ``path``), so the same
rules classify a static finding and a recorded one.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from async_audit.record.privacy import clean_host, mask_path

Parts = tuple[str, ...]

_HTTP_VERBS = {
    "get": "GET",
    "post": "POST",
    "put": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "head": "HEAD",
}
_HTTP_VERBS["options"] = "OPTIONS"


@dataclass(frozen=True)
class SlowCall:
    """A call the scan reports, described like a recorded call."""

    kind: str  # http, email, task, block
    lib: str  # the hook that would record it at run time
    via: str | None = None  # the SDK between the project and the hook
    host: str | None = None
    method: str | None = None
    path: str | None = None
    target: str | None = None  # host, email backend, task name, block name
    label: str = ""  # what the call is, for people: "requests.post", "stripe.Customer.create"
    timeout: str = "n/a"  # "set", "missing" (no timeout: can hold a worker forever) or "n/a"
    task_function: str | None = None  # the project's task function, for enqueues


def _no_names(expr: ast.expr) -> list[str]:
    return []


@dataclass(frozen=True)
class CallContext:
    """What a matcher may look at besides the callee's parts."""

    call: ast.Call
    ctors: tuple[ast.Call, ...]  # the constructor calls behind each "()" of the parts, outermost first
    constant: Callable[[ast.expr], str | None]  # a string the expression is known to hold, or its prefix
    # For a project function: the task system its decorator registers it with.
    task_lib: Callable[[Parts], str | None]
    names: Callable[[ast.expr], list[str]] = _no_names  # identifiers the expression is built from


def _kw(call: ast.Call, name: str) -> ast.keyword | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword
    return None


def _timeout_state(call: ast.Call, ctors: tuple[ast.Call, ...], position: int | None = None) -> str:
    """``set`` when the call or its client carries a timeout other than ``None``."""
    candidates = [call, *ctors]
    for candidate in candidates:
        keyword = _kw(candidate, "timeout")
        if keyword is not None:
            is_none = isinstance(keyword.value, ast.Constant) and keyword.value.value is None
            return "missing" if is_none else "set"
        if any(k.arg is None for k in candidate.keywords):
            return "set"  # **kwargs may carry it: do not accuse
    if position is not None and len(call.args) > position:
        return "set"
    return "missing"


# When a URL comes from the environment, the setting's name often says which service it is.
_NAME_HINTS = (
    ("slack", "hooks.slack.com"),
    ("hubspot", "api.hubapi.com"),
    ("sendgrid", "api.sendgrid.com"),
    ("mailgun", "api.mailgun.net"),
    ("postmark", "api.postmarkapp.com"),
    ("mailchimp", "api.mailchimp.com"),
    ("discord", "discord.com"),
    ("segment", "api.segment.io"),
    ("mixpanel", "api.mixpanel.com"),
    ("twilio", "api.twilio.com"),
    ("salesforce", "login.salesforce.com"),
    ("algolia", "algolia.net"),
)


def _url_facts(expr: ast.expr | None, ctx: CallContext) -> tuple[str | None, str | None]:
    if expr is None:
        return None, None
    host, path = _known_url(expr, ctx)
    if host is None:
        names = " ".join(ctx.names(expr)).lower()
        host = next((known for word, known in _NAME_HINTS if word in names), None)
    return host, path


def _known_url(expr: ast.expr, ctx: CallContext) -> tuple[str | None, str | None]:
    text = ctx.constant(expr)
    if not text:
        return None, None
    # Holes of f-strings and concatenations ("{}") are identifiers as far as grouping goes.
    text = text.replace("{}", "0")
    if "://" not in text:
        slash = text.find("/")
        if slash < 0 or (slash > 0 and not text.startswith("0")):
            return None, None
        return None, mask_path(text[slash:])
    parts = urlsplit(text)
    host = clean_host(parts.netloc)
    known_host = host if host and not host.startswith("0") else None
    return known_host, mask_path(parts.path) if parts.path else None


def _url_arg(call: ast.Call, index: int) -> ast.expr | None:
    keyword = _kw(call, "url")
    if keyword is not None:
        return keyword.value
    return call.args[index] if len(call.args) > index else None


# -- HTTP clients -------------------------------------------------------------------------------------------

_REQUESTS_SESSIONS = {
    ("requests", "Session", "()"),
    ("requests", "session", "()"),
    ("requests", "sessions", "Session", "()"),
}


def _http(parts: Parts, ctx: CallContext) -> SlowCall | None:  # noqa: C901 - one table of client shapes
    name = parts[-1]
    head = parts[:-1]
    call = ctx.call
    method: str | None
    if head == ("requests",) or head in _REQUESTS_SESSIONS:
        lib, via, pos = "http.client", "requests", 0
    elif head == ("httpx",) or head in {("httpx", "Client", "()"), ("httpx", "AsyncClient", "()")}:
        lib, via, pos = "httpx", None, 0
    elif head in {("aiohttp", "ClientSession", "()")} or parts == ("aiohttp", "request"):
        lib, via, pos = "aiohttp", None, 0
    elif parts in {("urllib", "request", "urlopen"), ("urllib2", "urlopen")}:
        method = "POST" if len(call.args) > 1 or _kw(call, "data") else "GET"
        host, path = _url_facts(_url_arg(call, 0), ctx)
        timeout = _timeout_state(call, (), position=2)
        label = "urllib.request.urlopen"
        return SlowCall("http", "http.client", None, host, method, path, host, label, timeout)
    elif head in {("urllib3",), ("urllib3", "PoolManager", "()"), ("urllib3", "HTTPConnectionPool", "()")}:
        if name not in ("request", "urlopen"):
            return None
        method = (ctx.constant(call.args[0]) or "GET").upper() if call.args else "GET"
        host, path = _url_facts(_url_arg(call, 1), ctx)
        timeout = _timeout_state(call, ctx.ctors)
        return SlowCall("http", "http.client", "urllib3", host, method, path, host, ".".join(parts), timeout)
    elif head in {("http", "client", "HTTPConnection", "()"), ("http", "client", "HTTPSConnection", "()")}:
        if name != "request":
            return None
        method = (ctx.constant(call.args[0]) or "GET").upper() if call.args else "GET"
        ctor = ctx.ctors[-1] if ctx.ctors else None
        host = clean_host(ctx.constant(ctor.args[0]) if ctor is not None and ctor.args else None) or None
        _, path = _url_facts(call.args[1] if len(call.args) > 1 else None, ctx)
        timeout = _timeout_state(ctor, ()) if ctor is not None else "missing"
        return SlowCall("http", "http.client", None, host, method, path, host, "http.client request", timeout)
    else:
        return None
    if name in _HTTP_VERBS:
        method = _HTTP_VERBS[name]
        url = _url_arg(call, pos)
    elif name in ("request", "stream"):
        method = (ctx.constant(call.args[0]) or "").upper() or None if call.args else None
        keyword = _kw(call, "method")
        if keyword is not None:
            method = (ctx.constant(keyword.value) or "").upper() or None
        url = _url_arg(call, 1)
    else:
        return None
    host, path = _url_facts(url, ctx)
    timeout = _timeout_state(call, ctx.ctors)
    if (
        lib == "httpx"
        and timeout == "missing"
        and not any(
            isinstance(k.value, ast.Constant) and k.value.value is None
            for c in (call, *ctx.ctors)
            for k in c.keywords
        )
    ):
        timeout = "set"  # httpx has a 5 s default; only an explicit timeout=None removes it
    if lib == "aiohttp" and timeout == "missing":
        timeout = "missing"  # aiohttp's default total timeout is 300 s, past every platform's budget
    label = ".".join(p for p in parts if p != "()")
    return SlowCall("http", lib, via, host, method, path, host, label, timeout)


# -- email --------------------------------------------------------------------------------------------------

_MAIL_FUNCTIONS = {"send_mail", "send_mass_mail", "mail_admins", "mail_managers"}
_MAIL_CLASSES = {"EmailMessage", "EmailMultiAlternatives"}


def _email(parts: Parts, ctx: CallContext) -> SlowCall | None:
    name = parts[-1]
    if parts[:3] == ("django", "core", "mail"):
        rest = parts[3:]
        if rest and rest[0] == "message":
            rest = rest[1:]
        if len(rest) == 1 and rest[0] in _MAIL_FUNCTIONS:
            return SlowCall(
                "email", "django.mail", label=f"django.core.mail.{rest[0]}", target="django.core.mail"
            )
        if len(rest) == 3 and rest[0] in _MAIL_CLASSES and rest[1] == "()" and name == "send":
            return SlowCall("email", "django.mail", label=f"{rest[0]}.send", target="django.core.mail")
        if rest[:2] == ("get_connection", "()") and name == "send_messages":
            return SlowCall(
                "email", "django.mail", label="connection.send_messages", target="django.core.mail"
            )
        return None
    if name == "email_user" and len(parts) >= 2:
        return SlowCall("email", "django.mail", label="User.email_user", target="django.core.mail")
    if parts[:1] == ("smtplib",) and name in ("sendmail", "send_message") and "()" in parts:
        return SlowCall("email", "smtplib", label=f"smtplib.{name}", target="smtp")
    if parts[:1] == ("sendgrid",) and name == "send":
        return SlowCall(
            "http",
            "http.client",
            "sendgrid",
            "api.sendgrid.com",
            "POST",
            "/v3/mail/send",
            label="sendgrid.send",
        )
    return None


# -- SDKs ---------------------------------------------------------------------------------------------------

_STRIPE_READS = {"retrieve", "list", "search", "auto_paging_iter", "get"}
_BOTO_READS = ("get_", "list_", "describe_", "head_", "generate_presigned")
_ES_WRITES = {
    "index": "/_doc",
    "create": "/_create",
    "update": "/_update",
    "delete": "/_doc",
    "bulk": "/_bulk",
}
_ES_WRITES["update_by_query"] = "/_update_by_query"
_ES_WRITES["delete_by_query"] = "/_delete_by_query"
_ES_READS = {
    "search": "/_search",
    "get": "/_doc",
    "count": "/_count",
    "msearch": "/_msearch",
    "mget": "/_mget",
}
_SOLR_WRITES = {"add", "delete", "commit", "optimize", "extract"}
_SOLR_READS = {"search", "more_like_this", "suggest_terms"}
_ALGOLIA_WRITES = {
    "save_object",
    "save_objects",
    "partial_update_object",
    "partial_update_objects",
    "delete_object",
    "delete_objects",
    "clear_objects",
    "replace_all_objects",
    "save_record",
    "delete_record",
    "update_records",
    "reindex_all",
}
_SLACK_CLIENTS = {("slack_sdk", "WebClient"), ("slack_sdk", "web", "WebClient"), ("slack", "WebClient")}
_SLACK_CLIENTS |= {
    ("slack_sdk", "web", "client", "WebClient"),
    ("slack_sdk", "web", "async_client", "AsyncWebClient"),
}


def _sdk(parts: Parts, ctx: CallContext) -> SlowCall | None:  # noqa: C901 - one table of SDK shapes
    root, name = parts[0], parts[-1]
    label = ".".join(p for p in parts if p not in ("()", "[]"))
    if root in ("stripe", "braintree"):
        if len(parts) < 3 and root == "stripe":
            return None  # stripe.api_key-style helpers are not requests
        method = "GET" if name in _STRIPE_READS else "POST"
        host = "api.stripe.com" if root == "stripe" else "api.braintreegateway.com"
        return SlowCall("http", "http.client", root, host, method, None, host, label, "set")
    if root == "boto3" and "()" in parts:
        ctor = ctx.ctors[0] if ctx.ctors else None
        service = ctx.constant(ctor.args[0]) if ctor is not None and ctor.args else None
        service_kw = _kw(ctor, "service_name") if ctor is not None else None
        if service is None and service_kw is not None:
            service = ctx.constant(service_kw.value)
        if name.startswith(_BOTO_READS) or name in ("client", "resource", "Bucket", "Object", "Table"):
            return None
        # SES is reached at email.<region>.amazonaws.com: the rules know it as email by that host.
        host = "email.amazonaws.com" if service in ("ses", "sesv2") else f"{service or 'aws'}.amazonaws.com"
        return SlowCall(
            "http",
            "http.client",
            "boto3",
            host,
            "PUT" if service == "s3" else "POST",
            None,
            host,
            label,
            "set",
        )
    if root in ("elasticsearch", "opensearchpy", "elasticsearch_dsl", "django_elasticsearch_dsl"):
        via = "opensearchpy" if root == "opensearchpy" else "elasticsearch"
        if parts[1:2] == ("helpers",) and name in ("bulk", "streaming_bulk", "parallel_bulk"):
            return SlowCall("http", "http.client", via, None, "POST", "/_bulk", None, label, "set")
        if root == "django_elasticsearch_dsl" and name in ("update", "delete"):
            return SlowCall("http", "http.client", via, None, "POST", "/_bulk", None, label, "set")
        if "()" in parts and name in _ES_WRITES:
            return SlowCall("http", "http.client", via, None, "PUT", _ES_WRITES[name], None, label, "set")
        if "()" in parts and name in _ES_READS:
            return SlowCall("http", "http.client", via, None, "GET", _ES_READS[name], None, label, "set")
        return None
    if root == "pysolr" and "()" in parts:
        if name in _SOLR_WRITES:
            return SlowCall("http", "http.client", "pysolr", None, "POST", "/update", None, label, "set")
        if name in _SOLR_READS:
            return SlowCall("http", "http.client", "pysolr", None, "GET", "/select", None, label, "set")
        return None
    if root == "haystack":
        if name in ("update", "remove", "clear", "update_object", "remove_object") and "()" in parts:
            return SlowCall("http", "http.client", "haystack", None, "POST", "/update", None, label, "set")
        return None
    if root in ("algoliasearch", "algoliasearch_django"):
        if name in _ALGOLIA_WRITES:
            return SlowCall(
                "http",
                "http.client",
                "algoliasearch",
                "algolia.net",
                "POST",
                "/1/indexes",
                None,
                label,
                "set",
            )
        if name in ("search", "raw_search"):
            return SlowCall(
                "http",
                "http.client",
                "algoliasearch",
                "algolia.net",
                "POST",
                "/1/indexes/query",
                None,
                label,
                "set",
            )
        return None
    if root in ("slack_sdk", "slack") and "()" in parts:
        if parts[:-1][-2:-1] and parts[-3:-1] == ("WebhookClient", "()") and name == "send":
            return SlowCall(
                "http",
                "http.client",
                "slack_sdk",
                "hooks.slack.com",
                "POST",
                None,
                "hooks.slack.com",
                label,
                "set",
            )
        head = parts[: parts.index("()")]
        if head in _SLACK_CLIENTS and not name.startswith(("users_info", "conversations_list")):
            path = "/api/" + name.replace("_", ".", 1)
            return SlowCall(
                "http", "http.client", "slack_sdk", "slack.com", "POST", path, "slack.com", label, "set"
            )
        return None
    if root == "twilio" and "()" in parts and name in ("create", "update", "delete"):
        return SlowCall(
            "http",
            "http.client",
            "twilio",
            "api.twilio.com",
            "POST",
            None,
            "api.twilio.com",
            label,
            "missing",
        )
    return None


# -- processes, sleeps, enqueues ----------------------------------------------------------------------------

_SUBPROCESS = {"run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"}


def _block(parts: Parts, ctx: CallContext) -> SlowCall | None:
    if len(parts) == 2 and parts[0] == "subprocess" and parts[1] in _SUBPROCESS:
        return SlowCall(
            "block", "subprocess", label=f"subprocess.{parts[1]}", target=f"subprocess.{parts[1]}"
        )
    if len(parts) == 2 and parts[0] == "os" and parts[1] in ("system", "popen"):
        return SlowCall("block", "subprocess", label=f"os.{parts[1]}", target=f"os.{parts[1]}")
    if parts == ("time", "sleep"):
        return SlowCall("block", "time.sleep", label="time.sleep", target="time.sleep")
    if parts in (("async_audit", "track"), ("async_audit", "record", "track", "track")):
        name = ctx.constant(ctx.call.args[0]) if ctx.call.args else None
        return SlowCall("block", "async_audit.track", target=name or "?", label=f"track({name!r})")
    return None


_ENQUEUE_METHODS = {
    "delay": "celery",
    "apply_async": "celery",
    "send": "dramatiq",
    "send_with_options": "dramatiq",
    "enqueue": "django.tasks",
    "aenqueue": "django.tasks",
}


def _task(parts: Parts, ctx: CallContext) -> SlowCall | None:
    name = parts[-1]
    if parts in {("django_rq", "enqueue"), ("rq", "Queue", "()", "enqueue")} or (
        parts[:1] in {("django_rq",), ("rq",)}
        and name in ("enqueue", "enqueue_call", "enqueue_in", "enqueue_at")
    ):
        return _enqueue("rq", ctx.call.args[0] if ctx.call.args else None, ctx, label=".".join(parts))
    if parts in {("django_q", "tasks", "async_task"), ("django_q", "tasks", "schedule")}:
        return _enqueue("django_q", ctx.call.args[0] if ctx.call.args else None, ctx, label="async_task")
    if parts[-2:] == ("app", "send_task") or (parts[0] == "celery" and name == "send_task"):
        return _enqueue("celery", ctx.call.args[0] if ctx.call.args else None, ctx, label="send_task")
    if len(parts) >= 2 and name in _ENQUEUE_METHODS:
        task_parts = parts[:-1]
        lib = ctx.task_lib(task_parts)
        expected = _ENQUEUE_METHODS[name]
        if lib is None:
            if expected != "celery" or "()" in task_parts:
                return None
            lib = "celery"  # .delay()/.apply_async() on a task defined outside the scanned tree
        elif lib != expected:
            return None
        task = ".".join(task_parts)
        return SlowCall("task", lib, target=task, label=f"{task}.{name}", task_function=task)
    if ctx.task_lib(parts) == "huey":  # calling a huey task enqueues it
        task = ".".join(parts)
        return SlowCall("task", "huey", target=task, label=task, task_function=task)
    return None


def _enqueue(lib: str, func: ast.expr | None, ctx: CallContext, label: str) -> SlowCall:
    target = None
    if isinstance(func, ast.Name):
        target = func.id
    elif isinstance(func, ast.Attribute):
        target = func.attr
    elif func is not None:
        target = ctx.constant(func)
    return SlowCall("task", lib, target=target, label=label)


_MATCHERS: dict[str, list[Callable[[Parts, CallContext], SlowCall | None]]] = {}
for _root_name, _matcher in [
    ("requests", _http),
    ("httpx", _http),
    ("aiohttp", _http),
    ("urllib", _http),
    ("urllib2", _http),
    ("urllib3", _http),
    ("http", _http),
    ("django", _email),
    ("smtplib", _email),
    ("sendgrid", _email),
    ("stripe", _sdk),
    ("braintree", _sdk),
    ("boto3", _sdk),
    ("elasticsearch", _sdk),
    ("elasticsearch_dsl", _sdk),
    ("django_elasticsearch_dsl", _sdk),
    ("opensearchpy", _sdk),
    ("pysolr", _sdk),
    ("haystack", _sdk),
    ("algoliasearch", _sdk),
    ("algoliasearch_django", _sdk),
    ("slack_sdk", _sdk),
    ("slack", _sdk),
    ("twilio", _sdk),
    ("subprocess", _block),
    ("os", _block),
    ("time", _block),
    ("async_audit", _block),
    ("django_rq", _task),
    ("rq", _task),
    ("django_q", _task),
]:
    _MATCHERS.setdefault(_root_name, []).append(_matcher)


_SPECIAL_NAMES = frozenset({"email_user", "send_task", *_ENQUEUE_METHODS})


def may_match(parts: Parts, project_function: bool) -> bool:
    """A cheap test before :func:`match`: could these parts be a slow call at all?"""
    return bool(parts) and (parts[0] in _MATCHERS or parts[-1] in _SPECIAL_NAMES or project_function)


def match(parts: Parts, ctx: CallContext) -> SlowCall | None:
    """The slow call ``parts`` (a resolved callee) makes, or ``None``."""
    if not parts:
        return None
    for matcher in _MATCHERS.get(parts[0], ()):
        found = matcher(parts, ctx)
        if found is not None:
            return found
    if parts[-1] == "email_user":
        return _email(parts, ctx)
    if parts[-1] in _ENQUEUE_METHODS or parts[-1] == "send_task" or ctx.task_lib(parts) == "huey":
        return _task(parts, ctx)
    return None
