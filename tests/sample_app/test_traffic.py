"""The traffic driver against the running site: bounded, concurrent, realistic, and stoppable."""

from __future__ import annotations

import _thread
import threading

import pytest

from runner import Site
from services import ServiceStack
from traffic import DEFAULT_MIX, TOUR, drive, tour

pytestmark = pytest.mark.e2e


def test_drive_plays_a_bounded_concurrent_mix(site: Site, site_services: ServiceStack) -> None:
    contacts_before = len(site_services.crm.contacts)
    progress: list[tuple[int, int]] = []
    lock = threading.Lock()

    def record(done: int, total: int) -> None:
        with lock:
            progress.append((done, total))

    result = drive(site.wsgi_url, site.asgi_url, steps=30, concurrency=3, seed=5, progress=record)

    assert result.ok, result.errors
    assert result.total_steps == 30
    assert set(result.steps) <= set(DEFAULT_MIX)
    assert sorted(progress) == [(n, 30) for n in range(1, 31)]
    assert result.total_requests >= 30
    assert set(result.statuses) <= {200, 202, 302}
    # Every signup used a fresh email: each became a new CRM contact.
    assert len(site_services.crm.contacts) - contacts_before == result.steps["signup"]
    assert not [t for t in threading.enumerate() if t.name.startswith("traffic-") and t.is_alive()]


def test_the_mix_decides_the_steps(site: Site) -> None:
    result = drive(site.wsgi_url, site.asgi_url, steps=5, concurrency=1, mix={"search": 1})
    # A thread signs a user up before its first step.
    assert dict(result.steps) == {"signup": 1, "search": 4}
    assert result.requests["GET /directory/"] == 4


def test_a_duration_bounds_the_run(site: Site) -> None:
    result = drive(site.wsgi_url, site.asgi_url, steps=None, duration=1.0, concurrency=2, mix={"browse": 1})
    assert result.ok, result.errors
    assert result.total_steps >= 2
    assert result.seconds >= 1.0


def test_ctrl_c_stops_the_driver_threads(site: Site) -> None:
    def interrupt(done: int, total: int) -> None:
        if done == 3:
            _thread.interrupt_main()

    with pytest.raises(KeyboardInterrupt):
        drive(site.wsgi_url, steps=1000, concurrency=2, mix={"browse": 1}, progress=interrupt)
    assert not [t for t in threading.enumerate() if t.name.startswith("traffic-") and t.is_alive()]


def test_tour_plays_every_step_once(site: Site, site_services: ServiceStack) -> None:
    result = tour(site.wsgi_url, site.asgi_url, seed=3)
    assert result.ok, result.errors
    assert dict(result.steps) == dict.fromkeys(TOUR, 1)
    assert result.requests["POST /billing/invoices/{id}/remind/"] == 1
    assert result.requests["POST /newsletters/{id}/send/"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": None, "duration": None}, "bound the traffic"),
        ({"mix": {"dance": 1}}, "a mix weighs"),
        ({"mix": {"search": 0}}, "a mix weighs"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        drive("http://127.0.0.1:9", **kwargs)  # type: ignore[arg-type]
