from __future__ import annotations

import re
from pathlib import Path

import pytest

import async_audit.rules
from async_audit.analyze.model import Category, Disposition
from async_audit.errors import ConfigError, InputError
from async_audit.rules import CallFacts, load_rules

C, D = Category, Disposition


def http(
    method: str | None = "POST",
    host: str | None = None,
    path: str | None = None,
    via: str | None = None,
    lib: str = "urllib3",
) -> CallFacts:
    return CallFacts(kind="http", lib=lib, via=via, host=host, method=method, path=path)


KNOWLEDGE = [
    # payment: by host and by SDK package (the scanner only knows the package)
    (http(host="api.stripe.com", path="/v1/payment_intents"), C.PAYMENT, D.KEEP_SYNC, "builtin:stripe"),
    (http(method=None, via="stripe", lib="requests"), C.PAYMENT, D.KEEP_SYNC, "builtin:stripe"),
    (http(host="api.braintreegateway.com"), C.PAYMENT, D.KEEP_SYNC, "builtin:braintree"),
    (http(host="api-m.paypal.com"), C.PAYMENT, D.KEEP_SYNC, "builtin:paypal"),
    (http(via="Adyen"), C.PAYMENT, D.KEEP_SYNC, "builtin:adyen"),
    (http(host="connect.squareup.com"), C.PAYMENT, D.KEEP_SYNC, "builtin:square"),
    # email APIs
    (http(host="api.sendgrid.com", path="/v3/mail/send"), C.EMAIL, D.DEFER, "builtin:sendgrid"),
    (http(host="api.eu.mailgun.net"), C.EMAIL, D.DEFER, "builtin:mailgun"),
    (http(via="postmarker"), C.EMAIL, D.DEFER, "builtin:postmark"),
    (http(host="email.eu-west-1.amazonaws.com", via="boto3"), C.EMAIL, D.DEFER, "builtin:ses"),
    (http(host="mandrillapp.com"), C.EMAIL, D.DEFER, "builtin:mandrill"),
    (http(host="api.sparkpost.com"), C.EMAIL, D.DEFER, "builtin:sparkpost"),
    (http(host="api.resend.com"), C.EMAIL, D.DEFER, "builtin:resend"),
    # notifications
    (http(host="hooks.slack.com", path="/services/{id}"), C.NOTIFICATION, D.DEFER, "builtin:slack"),
    (http(host="acme.webhook.office.com"), C.NOTIFICATION, D.DEFER, "builtin:teams"),
    (http(host="discord.com", path="/api/webhooks/{id}/{id}"), C.NOTIFICATION, D.DEFER, "builtin:discord"),
    (http(host="api.twilio.com"), C.NOTIFICATION, D.DEFER, "builtin:twilio"),
    (http(host="rest.nexmo.com"), C.NOTIFICATION, D.DEFER, "builtin:vonage"),
    (http(host="fcm.googleapis.com"), C.NOTIFICATION, D.DEFER, "builtin:push"),
    (http(host="api.push.apple.com"), C.NOTIFICATION, D.DEFER, "builtin:push"),
    (http(host="onesignal.com"), C.NOTIFICATION, D.DEFER, "builtin:push"),
    # CRM, marketing, analytics: writes defer, reads stay
    (http(host="api.hubapi.com", path="/crm/v3/objects/contacts"), C.API_WRITE, D.DEFER, "builtin:crm"),
    (http("GET", host="api.hubapi.com"), C.API_READ, D.KEEP_SYNC, "builtin:crm"),
    (http(host="acme.my.salesforce.com"), C.API_WRITE, D.DEFER, "builtin:crm"),
    (http(host="api.pipedrive.com"), C.API_WRITE, D.DEFER, "builtin:crm"),
    (http(host="api.intercom.io"), C.API_WRITE, D.DEFER, "builtin:crm"),
    (http(host="acme.zendesk.com"), C.API_WRITE, D.DEFER, "builtin:crm"),
    (http(host="api.segment.io"), C.API_WRITE, D.DEFER, "builtin:analytics"),
    (http(host="api.mixpanel.com"), C.API_WRITE, D.DEFER, "builtin:analytics"),
    (http(host="api2.amplitude.com"), C.API_WRITE, D.DEFER, "builtin:analytics"),
    (http(host="us6.api.mailchimp.com"), C.API_WRITE, D.DEFER, "builtin:marketing"),
    # search: index writes versus queries
    (
        http("PUT", "es.internal", "/products/_doc/{id}", "elasticsearch"),
        C.SEARCH_INDEX,
        D.DEFER,
        "builtin:elasticsearch",
    ),
    (http("POST", "es.internal", "/_bulk", "opensearchpy"), C.SEARCH_INDEX, D.DEFER, "builtin:elasticsearch"),
    (http("POST", "es.internal", "/products/_update/{id}"), C.SEARCH_INDEX, D.DEFER, "builtin:elasticsearch"),
    (http("PUT", "es.internal", "/products/_create/{id}"), C.SEARCH_INDEX, D.DEFER, "builtin:elasticsearch"),
    (http("POST", "es.internal", "/products/_search"), C.SEARCH_QUERY, D.KEEP_SYNC, "builtin:elasticsearch"),
    (http("GET", "es.internal", "/products/_doc/{id}"), C.SEARCH_QUERY, D.KEEP_SYNC, "builtin:elasticsearch"),
    (http("POST", "solr.internal", "/solr/products/update"), C.SEARCH_INDEX, D.DEFER, "builtin:solr"),
    (http("GET", "solr.internal", "/solr/products/select"), C.SEARCH_QUERY, D.KEEP_SYNC, "builtin:solr"),
    (
        http("POST", "abc-dsn.algolia.net", "/1/indexes/products/batch"),
        C.SEARCH_INDEX,
        D.DEFER,
        "builtin:algolia",
    ),
    (
        http("POST", "abc-dsn.algolia.net", "/1/indexes/products/query"),
        C.SEARCH_QUERY,
        D.KEEP_SYNC,
        "builtin:algolia",
    ),
    (
        http("POST", "meili.internal", "/indexes/movies/documents"),
        C.SEARCH_INDEX,
        D.DEFER,
        "builtin:meilisearch",
    ),
    (
        http("POST", "meili.internal", "/indexes/movies/search"),
        C.SEARCH_QUERY,
        D.KEEP_SYNC,
        "builtin:meilisearch",
    ),
    (
        http("POST", "ts.internal", "/collections/books/documents"),
        C.SEARCH_INDEX,
        D.DEFER,
        "builtin:typesense",
    ),
    (
        http("GET", "ts.internal", "/collections/books/documents/search"),
        C.SEARCH_QUERY,
        D.KEEP_SYNC,
        "builtin:typesense",
    ),
    # object storage
    (http("PUT", "media.s3.amazonaws.com", "/uploads/{id}.pdf"), C.STORAGE, D.REVIEW, "builtin:s3"),
    (http("PUT", "s3.eu-west-1.amazonaws.com"), C.STORAGE, D.REVIEW, "builtin:s3"),
    (http("PUT", "acct.r2.cloudflarestorage.com"), C.STORAGE, D.REVIEW, "builtin:s3"),
    (http("GET", "media.s3.amazonaws.com"), C.STORAGE, D.KEEP_SYNC, "builtin:s3"),
    (http("POST", "storage.googleapis.com"), C.STORAGE, D.REVIEW, "builtin:gcs"),
    (http("PUT", "acct.blob.core.windows.net"), C.STORAGE, D.REVIEW, "builtin:azure-blob"),
    (http("POST", "sqs.eu-west-1.amazonaws.com", via="botocore"), C.API_WRITE, D.REVIEW, "builtin:aws-other"),
    # unknown hosts
    (http("POST", "partner.example.com", "/webhooks/orders"), C.API_WRITE, D.DEFER, "builtin:http-write"),
    (http("DELETE", "partner.example.com"), C.API_WRITE, D.DEFER, "builtin:http-write"),
    (http("GET", "geo.example.net", "/v1/lookup"), C.API_READ, D.KEEP_SYNC, "builtin:http-read"),
    # record kinds
    (
        CallFacts("email", "django.mail", backend="django.core.mail.backends.smtp.EmailBackend"),
        C.EMAIL,
        D.DEFER,
        "builtin:email",
    ),
    (CallFacts("email", "django.mail", via="django_ses"), C.EMAIL, D.DEFER, "builtin:email"),
    (CallFacts("sql", "django.db"), C.SQL, D.KEEP_SYNC, "builtin:sql"),
    (CallFacts("task", "celery", task="shop.tasks.sync", via="stripe"), C.TASK, D.DEFERRED, "builtin:task"),
    (CallFacts("block", "async_audit.track", name="render_pdf"), C.COMPUTE, D.REVIEW, "builtin:block"),
    (CallFacts("carrier-pigeon", "x"), C.OTHER, D.REVIEW, "builtin:unmatched"),
]


@pytest.mark.parametrize(("facts", "category", "disposition", "rule"), KNOWLEDGE, ids=lambda v: str(v)[:60])
def test_builtin_knowledge(facts: CallFacts, category: Category, disposition: Disposition, rule: str) -> None:
    decided = load_rules().classify(facts)
    assert (decided.category, decided.disposition, decided.rule) == (category, disposition, rule)
    assert decided.reason and not re.search(
        r"\{(kind|lib|via|host|method|path|backend|task|name)\}", decided.reason
    )


def test_reasons_name_the_call() -> None:
    decided = load_rules().classify(http("POST", "partner.example.com"))
    assert decided.reason.startswith("POST to partner.example.com:")


def test_classification_is_cached_and_pure() -> None:
    rules = load_rules()
    facts = http(host="api.stripe.com")
    assert rules.classify(facts) is rules.classify(CallFacts(**facts.__dict__))


def test_public_api_is_pinned() -> None:
    assert async_audit.rules.__all__ == sorted(async_audit.rules.__all__)
    assert {"CallFacts", "Classification", "RuleSet", "load_rules"} <= set(async_audit.rules.__all__)


PROJECT = """
[tool.async_audit]
budget = "60s"
disable = ["analytics"]

[[tool.async_audit.rules]]
name = "crm-writes"
category = "api_write"
disposition = "defer"
reason = "Our CRM at {host}."
match = [{ host = "crm.internal", method = ["POST", "PUT"] }]

[[tool.async_audit.rules]]
name = "stripe"
category = "payment"
disposition = "review"
reason = "Stripe in test mode only."
match = { via = "stripe" }
"""


def test_project_rules_extend_override_and_disable(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    rules = load_rules(tmp_path)
    crm = rules.classify(http("PUT", "crm.internal"))
    assert (crm.rule, crm.reason) == ("project:crm-writes", "Our CRM at crm.internal.")
    assert rules.classify(http("GET", "crm.internal")).rule == "builtin:http-read"
    stripe = rules.classify(http(via="stripe"))
    assert (stripe.rule, stripe.disposition) == ("project:stripe", D.REVIEW)
    assert "builtin:stripe" not in rules.names()
    assert rules.classify(http(host="api.segment.io")).rule == "builtin:http-write"
    assert rules.settings == {"budget": "60s"}
    assert rules.config_path == tmp_path / "pyproject.toml"


def test_async_audit_toml_wins_over_pyproject_and_explicit_file_over_both(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    (tmp_path / "async-audit.toml").write_text('budget = "45s"\n')
    assert load_rules(tmp_path).settings == {"budget": "45s"}
    other = tmp_path / "other.toml"
    other.write_text('[tool.async_audit]\nuser_budget = "2s"\n')
    assert load_rules(tmp_path, config_file=other).settings == {"user_budget": "2s"}


def test_pyproject_without_the_table_is_fine(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    rules = load_rules(tmp_path)
    assert rules.config_path is None and rules.settings == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.async_audit\n", "invalid TOML"),
        ("[[tool.async_audit.rules]]\nname = 'x'\ncategory = 'email'\n", "missing 'match'"),
        (
            "[[tool.async_audit.rules]]\nname = 'x'\ncategory = 'mail'\nmatch = {host = 'a'}\n",
            "'mail' is not one of",
        ),
        (
            "[[tool.async_audit.rules]]\nname = 'x'\ncategory = 'email'\ndisposition = 'later'\n"
            "match = {host = 'a'}\n",
            "'later' is not one of",
        ),
        (
            "[[tool.async_audit.rules]]\nname = 'x'\ncategory = 'email'\nmatch = {port = 25}\n",
            "cannot match on 'port'",
        ),
        (
            "[[tool.async_audit.rules]]\nname = 'x'\ncategory = 'email'\nmatch = {host = 3}\n",
            "expected a string",
        ),
        (
            "[[tool.async_audit.rules]]\nname = 'x'\ncategory = 'email'\nmatch = {host = 'a'}\ncolour = 1\n",
            "unknown key 'colour'",
        ),
        ("[tool.async_audit]\ndisable = ['nope']\n", "no built-in rule named 'nope'"),
        ("[tool.async_audit]\nrules = 3\n", "must be an array"),
    ],
)
def test_bad_config_is_a_one_line_config_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_rules(tmp_path)
    assert "\n" not in str(caught.value) and isinstance(caught.value, InputError)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_rules(config_file=tmp_path / "absent.toml")
