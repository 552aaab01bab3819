"""Fixtures for the sample site's tests: the stand-in services, and the site under real servers.

The site runs in subprocesses (gunicorn and uvicorn) with its own settings, so it never meets the test
suite's Django settings.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from runner import Site
from services import FAST, ServiceStack

# The recorder is part of this repository; switch it off only if its modules are missing.
AUDIT = importlib.util.find_spec("async_audit.middleware") is not None


@pytest.fixture
def stack() -> Iterator[ServiceStack]:
    with ServiceStack(FAST, seed=7) as services:
        yield services


@pytest.fixture(scope="package")
def site_services() -> Iterator[ServiceStack]:
    with ServiceStack(FAST, seed=11) as services:
        yield services


@pytest.fixture(scope="package")
def site(site_services: ServiceStack) -> Iterator[Site]:
    with Site(site_services.environ(), audit=AUDIT, wsgi_workers=2, wsgi_threads=4) as running:
        yield running


_PK = re.compile(r"/(\d+)/$")


class Browser:
    """A signed-in (or not) visitor, posting the site's forms with their CSRF token, as a browser does."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base_url + path, allow_redirects=False, timeout=30, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None) -> requests.Response:
        if "csrftoken" not in self.session.cookies:
            self.get("/accounts/login/")
        form = {**(data or {}), "csrfmiddlewaretoken": self.session.cookies["csrftoken"]}
        return self.session.post(self.base_url + path, data=form, allow_redirects=False, timeout=30)

    def signup(self, email: str, company: str = "Copper Plumbing", city: str = "Leeds") -> requests.Response:
        return self.post(
            "/accounts/signup/",
            {
                "full_name": "Amara Okafor",
                "email": email,
                "company": company,
                "industry": "trades",
                "city": city,
                "password": "correct-horse-battery",
                "list_in_directory": "on",
            },
        )

    def create_invoice(self, customer_email: str = "ben.murphy@client.example") -> int:
        response = self.post(
            "/billing/invoices/new/",
            {
                "customer_name": "Ben Murphy",
                "customer_email": customer_email,
                "description": "Boiler service",
                "amount": "240.00",
                "currency": "gbp",
                "due_in_days": "14",
            },
        )
        assert response.status_code == 302, response.text[:500]
        match = _PK.search(response.headers["Location"])
        assert match, response.headers["Location"]
        return int(match.group(1))


@pytest.fixture
def browser_factory() -> Iterator[Any]:
    browsers: list[Browser] = []

    def make(base_url: str) -> Browser:
        browser = Browser(base_url)
        browsers.append(browser)
        return browser

    yield make
    for browser in browsers:
        browser.close()
