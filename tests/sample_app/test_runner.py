"""The site under gunicorn and uvicorn, against the stand-in services: every planted view, and clean stops."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from runner import Server, Site, SiteError
from services import FAST, Latency, ServiceStack

from .conftest import AUDIT, Browser

pytestmark = pytest.mark.e2e


def _group(pgid: int) -> set[int]:
    """Live processes in a process group (Linux /proc)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which may hold spaces: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.add(int(entry.name))
    return members


def _port_open(url: str) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", urlsplit(url).port or 0)) == 0


def _plan_ids(html: str) -> list[str]:
    return re.findall(r'<option value="(\d+)"', html)


def test_every_planted_view_answers_and_its_side_effects_happen(
    site: Site, site_services: ServiceStack, browser_factory: Any
) -> None:
    stack = site_services
    email = "amara@copper-plumbing.example"
    browser: Browser = browser_factory(site.wsgi_url)

    # Signup: account, welcome email, CRM contact, directory listing.
    assert browser.get("/accounts/signup/").status_code == 200
    response = browser.signup(email, company="Copper Plumbing", city="Leeds")
    assert (response.status_code, response.headers.get("Location")) == (302, "/dashboard/"), response.text[
        :500
    ]
    assert browser.get("/dashboard/").status_code == 200
    assert [m.subject for m in stack.smtp.to(email)] == ["Welcome to Ledgerly, Copper Plumbing!"]
    contact = stack.crm.contact_by_email(email)
    assert contact is not None and contact["properties"]["company"] == "Copper Plumbing"
    listings = [doc["_source"] for doc in stack.elasticsearch.documents("ledgerly-businesses").values()]
    assert {"name": "Copper Plumbing", "city": "Leeds"}.items() <= listings[-1].items()

    # Checkout: the Stripe charge, then the receipt; a declined card is a form error, not a crash.
    plans = _plan_ids(browser.get("/billing/checkout/").text)
    assert len(plans) == 3
    response = browser.post("/billing/checkout/", {"plan": plans[1], "payment_method": "pm_card_visa"})
    assert (response.status_code, response.headers.get("Location")) == (302, "/billing/")
    charged = [pi for pi in stack.stripe.succeeded if pi["metadata"].get("organization") == "copper-plumbing"]
    assert [(pi["amount"], pi["metadata"]["plan"]) for pi in charged] == [(2900, "growth")]
    assert any("receipt" in m.subject for m in stack.smtp.to(email))
    declined = browser.post(
        "/billing/checkout/", {"plan": plans[0], "payment_method": "pm_card_chargeDeclined"}
    )
    assert declined.status_code == 200
    assert "Your card was declined." in declined.text
    assert "Growth" in browser.get("/billing/").text

    # Invoice: the post_save signal posts to Slack; the deal goes to the CRM.
    invoice_pk = browser.create_invoice("ben.murphy@client.example")
    detail = browser.get(f"/billing/invoices/{invoice_pk}/")
    assert detail.status_code == 200
    number = re.search(r"Invoice (INV-\d+-\d+)", detail.text)
    assert number, detail.text[:500]
    assert any(number.group(1) in message["text"] for message in stack.slack.messages)
    assert any(
        deal["properties"]["dealname"].startswith(number.group(1)) for deal in stack.crm.deals.values()
    )

    # Reminder: enqueued, and the immediate backend sends it before the response.
    response = browser.post(f"/billing/invoices/{invoice_pk}/remind/")
    assert (response.status_code, response.headers.get("Location")) == (
        302,
        f"/billing/invoices/{invoice_pk}/",
    )
    assert [m.subject for m in stack.smtp.to("ben.murphy@client.example")] == [
        f"Reminder: invoice {number.group(1)} from Copper Plumbing"
    ]

    # Newsletter: one email per subscriber.
    subscribers = [f"reader{i}@customers.example" for i in range(3)]
    response = browser.post("/newsletters/subscribers/import/", {"addresses": "\n".join(subscribers)})
    assert response.status_code == 302
    response = browser.post(
        "/newsletters/new/", {"subject": "Spring offers", "body": "20% off boiler checks."}
    )
    assert response.status_code == 302
    campaign = response.headers["Location"]
    response = browser.post(campaign + "send/")
    assert (response.status_code, response.headers.get("Location")) == (302, campaign)
    for address in subscribers:
        assert [m.subject for m in stack.smtp.to(address)] == ["Spring offers"]
    assert "Sent" in browser.get(campaign).text

    # Directory search: the page shows what Elasticsearch found.
    response = browser.get("/directory/", params={"q": "plumbing"})
    assert response.status_code == 200
    assert "Copper Plumbing" in response.text
    assert stack.elasticsearch.requests_to("POST", "/ledgerly-businesses/_search")

    # Reports: the forecast is built in the request and stored; the page only links to it.
    response = browser.post("/reports/exports/")
    assert (response.status_code, response.headers.get("Location")) == (302, "/reports/")
    download = re.search(r'href="(/reports/exports/\d+\.csv)"', browser.get("/reports/").text)
    assert download
    csv = browser.get(download.group(1))
    assert csv.status_code == 200
    assert csv.text.splitlines()[0] == "month,p10,median,p90"
    assert len(csv.text.splitlines()) == 13

    # The analytics beacon: async under uvicorn, and still served by gunicorn.
    for base_url, event in ((site.asgi_url, "invoice_viewed"), (site.wsgi_url, "plan_compared")):
        response = requests.post(
            base_url + "/api/events/", json={"event": event, "path": "/dashboard/"}, timeout=10
        )
        assert (response.status_code, response.json()) == (202, {"ok": True})
        assert any(e["eventName"] == f"pe_ledgerly_{event}" for e in stack.crm.events)
    bad = requests.post(site.asgi_url + "/api/events/", json={"event": "nope"}, timeout=10)
    assert bad.status_code == 400


def test_service_latency_shows_in_the_request_time(
    site: Site, site_services: ServiceStack, browser_factory: Any
) -> None:
    browser: Browser = browser_factory(site.wsgi_url)
    assert browser.signup("dev.patel@maple-bakery.example", company="Maple Bakery").status_code == 302
    try:
        # Creating an invoice posts the CRM deal and, from the signal handler, the Slack message.
        site_services.set_latency("crm", Latency(ms=300))
        site_services.set_latency("slack", Latency(ms=200))
        started = time.perf_counter()
        browser.create_invoice()
        assert time.perf_counter() - started >= 0.5
    finally:
        site_services.set_latency("crm", FAST["crm"])
        site_services.set_latency("slack", FAST["slack"])


def test_failing_services_do_not_fail_the_pages(
    site: Site, site_services: ServiceStack, browser_factory: Any
) -> None:
    browser: Browser = browser_factory(site.wsgi_url)
    broken = Latency(fail_rate=1.0)
    try:
        for name in ("smtp", "crm", "elasticsearch", "slack"):
            site_services.set_latency(name, broken)
        response = browser.signup("grace.rossi@oak-studio.example", company="Oak Studio")
        assert (response.status_code, response.headers.get("Location")) == (302, "/dashboard/")
        browser.create_invoice()
        assert "Search is taking a break" in browser.get("/directory/", params={"q": "oak"}).text
    finally:
        for name in ("smtp", "crm", "elasticsearch", "slack"):
            site_services.set_latency(name, FAST[name])
    assert site_services.crm.contact_by_email("grace.rossi@oak-studio.example") is None


def _servers_and_groups(site: Site) -> tuple[list[Server], dict[str, set[int]]]:
    servers = list(site.servers.values())
    return servers, {server.name: _group(server.pid) for server in servers}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process groups are read from /proc")
def test_ctrl_c_stops_every_process_and_closes_every_port(stack: ServiceStack) -> None:
    site = Site(stack.environ(), audit=AUDIT, wsgi_workers=2, wsgi_threads=2)
    with pytest.raises(KeyboardInterrupt):
        with site:
            servers, groups = _servers_and_groups(site)
            urls = [server.url for server in servers]
            assert {server.name for server in servers} == {"gunicorn", "uvicorn"}
            assert len(groups["gunicorn"]) >= 3  # the master and its two workers
            raise KeyboardInterrupt
    assert site.servers == {}
    for server in servers:
        assert server.process.returncode is not None
        assert _group(server.pid) == set()
    assert not any(_port_open(url) for url in urls)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process groups are read from /proc")
def test_a_server_failing_to_start_stops_the_others(
    stack: ServiceStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Server] = []
    spawned: list[Server] = []
    wait_ready = Site._wait_ready
    spawn = Site._spawn

    def spawn_and_remember(self: Site, name: str, arguments: Any) -> None:
        spawn(self, name, arguments)
        spawned.append(self.servers[name])

    monkeypatch.setattr(Site, "_spawn", spawn_and_remember)
    monkeypatch.setattr(Site, "migrate", lambda self: None)  # not what this test is about; saves seconds

    def gunicorn_never_ready(self: Site, server: Server) -> None:
        seen.append(server)
        if server.name == "gunicorn":
            raise SiteError("gunicorn was not ready")
        wait_ready(self, server)

    monkeypatch.setattr(Site, "_wait_ready", gunicorn_never_ready)
    site = Site(stack.environ(), audit=False, wsgi_workers=1, wsgi_threads=1)
    with pytest.raises(SiteError, match="gunicorn was not ready"):
        site.start()
    # Both servers were started (and were still booting) when the first one failed its readiness check.
    assert [server.name for server in seen] == ["gunicorn"]
    assert len(spawned) == 2
    for server in spawned:
        assert server.process.returncode is not None
        assert _group(server.pid) == set()
        assert not _port_open(server.url)
    assert not site.workdir.exists()  # a workdir the site made and no records to keep


def test_bad_configuration_fails_at_migrate_with_the_error(stack: ServiceStack, tmp_path: Path) -> None:
    site = Site({**stack.environ(), "EMAIL_PORT": "not-a-port"}, workdir=tmp_path / "site", audit=False)
    with pytest.raises(SiteError, match="invalid literal for int"):
        site.start()
    assert site.servers == {}
    assert (tmp_path / "site").exists()  # a workdir given by the caller is left alone


def test_the_site_s_requests_are_recorded(site: Site) -> None:
    if not AUDIT:
        pytest.skip("async_audit.middleware is not importable")
    assert requests.get(site.wsgi_url + "/", timeout=10).status_code == 200
    # The writer thread gets to it shortly after the response.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [
            line
            for path in site.audit_dir.glob("async-audit-*.jsonl")
            for line in path.read_text().splitlines()
            if line.endswith("}")
        ]
        if any(json.loads(line)["view"] == "ledgerly.views.home" for line in lines):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no record of GET / in {site.audit_dir}")


def test_a_site_never_started_leaves_nothing_behind() -> None:
    site = Site()
    site.stop()
    assert site._workdir is None  # no temporary directory was made
