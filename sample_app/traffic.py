"""A realistic mix of Ledgerly traffic, played from a small pool of threads.

Each thread plays virtual users: a user signs up (a unique email each time), then invoices customers,
sends reminders and newsletters, pays for a plan, searches the directory, builds reports and browses; the
front end's analytics beacon goes to the ASGI server. Every step goes through the site's real forms with
their CSRF tokens, as a browser would.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import requests

# Relative weights of the steps; a step that needs an account signs one up first when the thread has none.
DEFAULT_MIX: dict[str, float] = {
    "signup": 8,
    "checkout": 7,
    "invoice": 12,
    "reminder": 6,
    "newsletter": 4,
    "search": 16,
    "report": 5,
    "event": 16,
    "browse": 26,
}

FIRST_NAMES = [
    "Amara",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Keiko",
    "Liam",
]
LAST_NAMES = ["Okafor", "Schmidt", "Dubois", "Patel", "Yilmaz", "Haddad", "Murphy", "Rossi", "Silva", "Novak"]
BUSINESS_WORDS = [
    "Bright",
    "Copper",
    "Harbour",
    "Maple",
    "North",
    "Oak",
    "Riverside",
    "Summit",
    "Willow",
    "Orchard",
]
BUSINESS_KINDS = {
    "trades": ["Plumbing", "Electrics", "Roofing", "Joinery"],
    "retail": ["Books", "Bikes", "Flowers", "Deli"],
    "hospitality": ["Cafe", "Bakery", "Bistro", "Guesthouse"],
    "creative": ["Studio", "Design", "Photography", "Print"],
    "consulting": ["Advisory", "Partners", "Analytics", "Consulting"],
    "health": ["Physio", "Yoga", "Dental", "Wellness"],
}
CITIES = ["Leeds", "Bristol", "Lyon", "Porto", "Leipzig", "Cork", "Ghent", "Turin", "Malmo", "Bergen"]
PAGES = ["/dashboard/", "/billing/invoices/", "/newsletters/", "/reports/", "/billing/", "/"]
EVENTS = ["invoice_viewed", "report_downloaded", "directory_searched", "plan_compared", "signup_started"]
# One of each step, in an order where each finds what it needs: every planted case is reached.
TOUR = ["signup", "browse", "checkout", "invoice", "reminder", "newsletter", "search", "report", "event"]
CARDS = ["pm_card_visa"] * 12 + ["pm_card_mastercard"] * 6 + ["pm_card_chargeDeclined"]
_PK_IN_PATH = re.compile(r"/(\d+)/$")
_PLAN_OPTION = re.compile(r'<option value="(\d+)"')

Progress = Callable[[int, int], None]


@dataclass
class TrafficResult:
    """What a run did: steps and HTTP requests per kind, statuses, and what went wrong."""

    steps: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)  # "METHOD /path/with/{id}/" -> count
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_steps(self) -> int:
        return sum(self.steps.values())

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def ok(self) -> bool:
        """Every request answered with a 2xx or 3xx."""
        return not self.errors


class _Stop(Exception):
    pass


class _User:
    """One virtual customer, with their own session (cookies) and what they have created."""

    def __init__(self, driver: _Driver, rng: random.Random) -> None:
        self.driver = driver
        self.rng = rng
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) LedgerlyTraffic/1.0"
        self.invoices: list[int] = []
        self.has_subscribers = False
        self.plan_ids: list[str] = []

    def close(self) -> None:
        self.session.close()

    def csrf(self) -> str:
        token = self.session.cookies.get("csrftoken")
        if not token:
            self.get("/accounts/login/")
            token = self.session.cookies.get("csrftoken")
        return str(token or "")

    def get(self, path: str, label: str | None = None, **kwargs: object) -> requests.Response:
        return self.driver.request(self.session, "GET", self.driver.wsgi_url + path, label or path, **kwargs)

    def post(self, path: str, data: Mapping[str, str], label: str | None = None) -> requests.Response:
        return self.driver.request(
            self.session,
            "POST",
            self.driver.wsgi_url + path,
            label or path,
            data={**data, "csrfmiddlewaretoken": self.csrf()},
            headers={"Referer": self.driver.wsgi_url + path},
        )

    # Steps

    def signup(self) -> None:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        industry = self.rng.choice(sorted(BUSINESS_KINDS))
        company = f"{self.rng.choice(BUSINESS_WORDS)} {self.rng.choice(BUSINESS_KINDS[industry])}"
        email = f"{first}.{last}.{self.driver.unique()}@{company.replace(' ', '').lower()}.example".lower()
        self.get("/accounts/signup/")
        self.post(
            "/accounts/signup/",
            {
                "full_name": f"{first} {last}",
                "email": email,
                "company": company,
                "industry": industry,
                "city": self.rng.choice(CITIES),
                "password": secrets.token_urlsafe(12),
                "list_in_directory": "on",
            },
        )

    def checkout(self, card: str | None = None) -> None:
        page = self.get("/billing/checkout/")
        if not self.plan_ids:
            self.plan_ids = _PLAN_OPTION.findall(page.text) or ["1"]
        self.post(
            "/billing/checkout/",
            {"plan": self.rng.choice(self.plan_ids), "payment_method": card or self.rng.choice(CARDS)},
        )

    def invoice(self) -> None:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        response = self.post(
            "/billing/invoices/new/",
            {
                "customer_name": f"{first} {last}",
                "customer_email": f"{first}.{last}@client.example".lower(),
                "description": self.rng.choice(["Website refresh", "Monthly retainer", "Call-out and parts"]),
                "amount": f"{self.rng.uniform(80, 4000):.2f}",
                "currency": self.rng.choice(["usd", "eur", "gbp"]),
                "due_in_days": self.rng.choice(["7", "14", "30"]),
            },
        )
        match = _PK_IN_PATH.search(response.headers.get("Location", ""))
        if match:
            self.invoices.append(int(match.group(1)))

    def reminder(self) -> None:
        if not self.invoices:
            self.invoice()
        if self.invoices:
            pk = self.rng.choice(self.invoices)
            self.post(f"/billing/invoices/{pk}/remind/", {}, label="/billing/invoices/{id}/remind/")

    def newsletter(self) -> None:
        if not self.has_subscribers:
            lines = [
                f"{self.rng.choice(FIRST_NAMES).lower()}.{self.driver.unique()}@customers.example"
                for _ in range(self.rng.randint(4, 8))
            ]
            self.post("/newsletters/subscribers/import/", {"addresses": "\n".join(lines)})
            self.has_subscribers = True
        response = self.post(
            "/newsletters/new/",
            {
                "subject": self.rng.choice(["Spring offers", "We're hiring", "New opening hours"]),
                "body": "Hello!",
            },
        )
        match = _PK_IN_PATH.search(response.headers.get("Location", ""))
        if match:
            self.post(f"/newsletters/{match.group(1)}/send/", {}, label="/newsletters/{id}/send/")

    def search(self) -> None:
        words = [*BUSINESS_WORDS, *CITIES, *(kind for kinds in BUSINESS_KINDS.values() for kind in kinds)]
        self.get("/directory/", params={"q": self.rng.choice(words)})

    def report(self) -> None:
        self.post("/reports/exports/", {})

    def browse(self) -> None:
        self.get(self.rng.choice(PAGES))

    def event(self) -> None:
        url = (self.driver.asgi_url or self.driver.wsgi_url) + "/api/events/"
        self.driver.request(
            self.session,
            "POST",
            url,
            "/api/events/",
            json={"event": self.rng.choice(EVENTS), "path": "/dashboard/"},
        )


class _Driver:
    def __init__(
        self,
        wsgi_url: str,
        asgi_url: str | None,
        *,
        steps: int | None,
        duration: float | None,
        mix: Mapping[str, float],
        timeout: float,
        progress: Progress | None,
    ) -> None:
        self.wsgi_url = wsgi_url.rstrip("/")
        self.asgi_url = asgi_url.rstrip("/") if asgi_url else None
        self.steps = steps
        self.deadline = time.monotonic() + duration if duration is not None else None
        self.mix = mix
        self.timeout = timeout
        self.progress = progress
        self.result = TrafficResult()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._claimed = 0
        self._done = 0
        self._serial = 0
        self._run = secrets.token_hex(3)  # keeps emails unique across runs against one database

    def unique(self) -> str:
        with self._lock:
            self._serial += 1
            return f"{self._run}{self._serial}"

    def claim(self) -> bool:
        with self._lock:
            if self.stop.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline):
                return False
            if self.steps is not None and self._claimed >= self.steps:
                return False
            self._claimed += 1
            return True

    def finished(self, step: str) -> None:
        with self._lock:
            self.result.steps[step] += 1
            self._done += 1
            done = self._done
        if self.progress is not None:
            self.progress(done, self.steps or 0)

    def request(
        self, session: requests.Session, method: str, url: str, label: str, **kwargs: object
    ) -> requests.Response:
        if self.stop.is_set():
            raise _Stop
        try:
            response = session.request(method, url, allow_redirects=False, timeout=self.timeout, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException as error:
            with self._lock:
                self.result.requests[f"{method} {label}"] += 1
                self.result.errors.append(f"{method} {label}: {type(error).__name__}: {error}")
            raise
        with self._lock:
            self.result.requests[f"{method} {label}"] += 1
            self.result.statuses[response.status_code] += 1
            if response.status_code >= 400:
                self.result.errors.append(f"{method} {label}: HTTP {response.status_code}")
        return response

    def play(self, seed: int) -> None:
        rng = random.Random(seed)
        names, weights = list(self.mix), list(self.mix.values())
        user: _User | None = None
        try:
            while self.claim():
                step = rng.choices(names, weights)[0]
                if user is None or step == "signup":
                    if user is not None:
                        user.close()
                    user = _User(self, rng)
                    step = "signup"
                try:
                    getattr(user, step)()
                except requests.RequestException:
                    pass  # counted in request(); the next step goes on
                self.finished(step)
        except _Stop:
            pass
        finally:
            if user is not None:
                user.close()


def drive(
    wsgi_url: str,
    asgi_url: str | None = None,
    *,
    steps: int | None = 200,
    duration: float | None = None,
    concurrency: int = 4,
    mix: Mapping[str, float] | None = None,
    seed: int = 0,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> TrafficResult:
    """Play ``steps`` user steps (or until ``duration`` seconds pass, whichever comes first) at the site.

    ``asgi_url`` receives the analytics beacon (``event`` steps); without it they go to ``wsgi_url``.
    ``progress(done, steps)`` is called from the driver's threads after every step (``steps`` is 0 when only
    a duration bounds the run). Ctrl-C stops the threads after their current request and re-raises.
    """
    if steps is None and duration is None:
        raise ValueError("bound the traffic with steps, duration or both")
    mix = dict(mix or DEFAULT_MIX)
    unknown = set(mix) - set(DEFAULT_MIX)
    if unknown or not any(w > 0 for w in mix.values()):
        raise ValueError(f"a mix weighs some of {sorted(DEFAULT_MIX)}; got {sorted(mix)}")
    driver = _Driver(
        wsgi_url, asgi_url, steps=steps, duration=duration, mix=mix, timeout=timeout, progress=progress
    )
    started = time.monotonic()
    threads = [
        threading.Thread(target=driver.play, args=(seed * 1000 + i,), name=f"traffic-{i}", daemon=True)
        for i in range(max(1, concurrency))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except BaseException:
        driver.stop.set()
        for thread in threads:
            thread.join(timeout + 5)
        raise
    finally:
        driver.result.seconds = time.monotonic() - started
    return driver.result


def tour(
    wsgi_url: str, asgi_url: str | None = None, *, seed: int = 0, timeout: float = 60.0
) -> TrafficResult:
    """One user plays every step once (:data:`TOUR`), paying by a good card: every planted case runs."""
    driver = _Driver(
        wsgi_url, asgi_url, steps=None, duration=None, mix=DEFAULT_MIX, timeout=timeout, progress=None
    )
    started = time.monotonic()
    user = _User(driver, random.Random(seed))
    try:
        for step in TOUR:
            if step == "checkout":
                user.checkout(card="pm_card_visa")
            else:
                getattr(user, step)()
            driver.finished(step)
    finally:
        user.close()
        driver.result.seconds = time.monotonic() - started
    return driver.result
