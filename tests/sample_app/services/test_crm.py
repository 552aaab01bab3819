from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import requests

from services import CRMService, Latency


@pytest.fixture
def crm() -> Iterator[CRMService]:
    with CRMService() as service:
        yield service


def _auth(crm: CRMService) -> dict[str, str]:
    return {"Authorization": f"Bearer {crm.token}"}


def test_contacts_as_hubspot_answers_them(crm: CRMService) -> None:
    url = crm.url + "/crm/v3/objects/contacts"
    with requests.Session() as session:
        created = session.post(
            url,
            json={"properties": {"email": "Amara@Copper.example", "firstname": "Amara"}},
            headers=_auth(crm),
            timeout=5,
        )
        assert created.status_code == 201
        contact = created.json()
        assert contact["properties"]["email"] == "Amara@Copper.example"
        assert contact["id"] == contact["properties"]["hs_object_id"]
        assert contact["archived"] is False

        again = session.post(
            url, json={"properties": {"email": "amara@copper.example"}}, headers=_auth(crm), timeout=5
        )
        assert again.status_code == 409
        assert again.json()["category"] == "CONFLICT"
        assert contact["id"] in again.json()["message"]

        fetched = session.get(f"{url}/{contact['id']}", headers=_auth(crm), timeout=5)
        assert fetched.json()["properties"]["firstname"] == "Amara"
        updated = session.patch(
            f"{url}/{contact['id']}", json={"properties": {"city": "Leeds"}}, headers=_auth(crm), timeout=5
        )
        assert updated.json()["properties"]["city"] == "Leeds"
        assert session.get(f"{url}/999999", headers=_auth(crm), timeout=5).status_code == 404
    assert crm.contact_by_email("AMARA@copper.example") is not None
    assert len(crm.contacts) == 1


def test_deals_and_events_with_httpx(crm: CRMService) -> None:
    with httpx.Client(base_url=crm.url, headers=_auth(crm), timeout=5) as client:
        deal = client.post(
            "/crm/v3/objects/deals", json={"properties": {"dealname": "INV-1", "amount": "10.00"}}
        )
        assert deal.status_code == 201
        assert client.post("/crm/v3/objects/deals", json={"properties": {}}).status_code == 400
        event = client.post(
            "/events/v3/send", json={"eventName": "pe_ledgerly_invoice_viewed", "properties": {}}
        )
        assert event.status_code == 204
        assert event.content == b""
    assert [d["properties"]["dealname"] for d in crm.deals.values()] == ["INV-1"]
    assert crm.events == [{"eventName": "pe_ledgerly_invoice_viewed", "properties": {}}]


def test_refuses_requests_without_the_token(crm: CRMService) -> None:
    response = requests.post(
        crm.url + "/crm/v3/objects/contacts", json={"properties": {"email": "a@b.c"}}, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION"
    assert crm.contacts == {}


def test_unknown_routes_and_methods(crm: CRMService) -> None:
    assert requests.get(crm.url + "/crm/v3/nothing", headers=_auth(crm), timeout=5).status_code == 404
    refused = requests.delete(crm.url + "/crm/v3/objects/deals", headers=_auth(crm), timeout=5)
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "POST"


def test_failures_and_every_request_seen(crm: CRMService) -> None:
    crm.latency = Latency(fail_rate=1.0)
    response = requests.post(
        crm.url + "/crm/v3/objects/contacts",
        json={"properties": {"email": "a@b.c"}},
        headers=_auth(crm),
        timeout=5,
    )
    assert response.status_code == 503
    assert crm.contacts == {}
    seen = crm.requests_to("POST", "/crm/v3/objects/contacts")
    assert len(seen) == 1
    assert seen[0].json() == {"properties": {"email": "a@b.c"}}
    assert seen[0].headers["authorization"] == f"Bearer {crm.token}"
