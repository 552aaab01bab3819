"""A generator of realistic version-1 records for the analyzer benchmark.

A small SaaS site: a few dozen routes served by several gunicorn workers on several hosts, each request
making about three recorded calls (slow SQL, payment and CRM APIs, email, search indexing, task enqueues,
marked blocks) with call sites and short stacks, and durations drawn from long-tailed distributions. One
file per process, as the recorder writes them.

    python benchmarks/analyze/generate.py OUT_DIR --requests 100000 [--files 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

_HTTP = [
    # via, method, host, path, lib
    ("stripe", "POST", "api.stripe.com", "/v1/payment_intents", "urllib3"),
    ("stripe", "GET", "api.stripe.com", "/v1/customers/{id}", "urllib3"),
    ("hubspot", "POST", "api.hubapi.com", "/crm/v3/objects/contacts", "urllib3"),
    ("hubspot", "PATCH", "api.hubapi.com", "/crm/v3/objects/contacts/{id}", "urllib3"),
    ("sendgrid", "POST", "api.sendgrid.com", "/v3/mail/send", "urllib.request"),
    ("elasticsearch", "PUT", "search.internal", "/products/_doc/{id}", "urllib3"),
    ("elasticsearch", "POST", "search.internal", "/products/_search", "urllib3"),
    ("elasticsearch", "POST", "search.internal", "/_bulk", "urllib3"),
    ("requests", "POST", "hooks.slack.com", "/services/{id}/{id}/{id}", "urllib3"),
    ("twilio", "POST", "api.twilio.com", "/2010-04-01/Accounts/{id}/Messages.json", "urllib3"),
    ("boto3", "PUT", "media.s3.amazonaws.com", "/uploads/{id}.pdf", "urllib3"),
    (None, "POST", "partner.example.com", "/webhooks/orders", "http.client"),
    (None, "GET", "geo.example.net", "/v1/lookup", "http.client"),
]
_APPS = ["accounts", "billing", "catalog", "orders", "support", "search", "reports", "teams"]
_METHODS = ["GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"]


def _routes(rng: random.Random) -> list[tuple[str, str, str]]:
    routes = []
    for app in _APPS:
        for name in ("", "<int:pk>/", "<int:pk>/edit/", "new/", "export/"):
            method = rng.choice(_METHODS)
            view = f"{app}.views.{(name.strip('/').split('/')[-1] or 'index').replace('<int:pk>', 'detail')}"
            routes.append((method, f"{app}/{name}", view))
    return routes


def _frame(app: str, rng: random.Random) -> dict[str, object]:
    module = rng.choice(["views", "services", "signals", "crm", "tasks"])
    return {
        "file": f"{app}/{module}.py",
        "line": rng.randint(10, 400),
        "function": f"{module}_{rng.randint(1, 9)}",
    }


def _call(rng: random.Random, app: str, t: float, sites: list[dict[str, object]]) -> dict[str, object]:
    site = rng.choice(sites)
    stack = [site] + [_frame(app, rng) for _ in range(rng.randint(0, 2))]
    base: dict[str, object] = {
        "t": round(t, 1),
        "parent": None,
        "atomic": rng.random() < 0.2,
        "site": site,
        "stack": stack,
        "error": None,
        "via": None,
    }
    roll = rng.random()
    if roll < 0.35:
        via, method, host, path, lib = rng.choice(_HTTP)
        ms = rng.lognormvariate(5.0, 0.8)
        base.update(
            kind="http",
            lib=lib,
            via=via,
            method=method,
            host=host,
            port=443,
            path=path,
            status=500 if rng.random() < 0.01 else 200,
            timeout=None if rng.random() < 0.3 else 10.0,
            error="ReadTimeout" if rng.random() < 0.005 else None,
        )
    elif roll < 0.55:
        ms = rng.lognormvariate(3.0, 1.0)
        base.update(
            kind="sql",
            lib="django.db",
            alias="default",
            sql=rng.choice(
                [
                    "SELECT ... FROM orders_order WHERE ...",
                    "UPDATE accounts_user SET ...",
                    "INSERT INTO billing_invoice ...",
                ]
            ),
        )
    elif roll < 0.75:
        ms = rng.lognormvariate(5.5, 0.7)
        base.update(
            kind="email",
            lib="django.mail",
            backend="django.core.mail.backends.smtp.EmailBackend",
            messages=1,
            recipients=rng.randint(1, 3),
        )
    elif roll < 0.9:
        ms = rng.lognormvariate(1.5, 0.5)
        base.update(
            kind="task",
            lib="celery",
            task=f"{app}.tasks.sync_{rng.randint(1, 4)}",
            backend="celery",
            queue=None,
            inline=rng.random() < 0.05,
        )
    else:
        ms = rng.lognormvariate(4.5, 1.0)
        base.update(kind="block", lib="async_audit.track", name=rng.choice(["render_pdf", "thumbnail"]))
    base["ms"] = round(ms, 2)
    return base


def generate(out_dir: Path, requests: int, files: int = 8, seed: int = 1, calls: int = 3) -> list[Path]:
    """Write ``requests`` records spread over ``files`` files in ``out_dir``; return the paths."""
    rng = random.Random(seed)
    routes = _routes(rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    sites = {app: [_frame(app, rng) for _ in range(12)] for app in _APPS}
    paths = []
    per_file = -(-requests // files)
    written = 0
    ts = 1_764_300_000.0
    for n in range(files):
        host, pid = f"web-{n % 3 + 1}", 4000 + n
        path = out_dir / f"async-audit-{host}-{pid}-{n}.jsonl"
        count = min(per_file, requests - written)
        with path.open("w") as fh:
            lines = []
            for _ in range(count):
                method, route, view = routes[int(rng.paretovariate(1.2)) % len(routes)]
                app = route.split("/")[0]
                cs = []
                t = rng.uniform(1, 20)
                for _ in range(calls):
                    c = _call(rng, app, t, sites[app])
                    t += float(c["ms"]) + rng.uniform(0.5, 30)  # type: ignore[arg-type]
                    cs.append(c)
                ms = t + rng.lognormvariate(3.5, 0.9)
                ts += rng.expovariate(50.0)
                lines.append(
                    json.dumps(
                        {
                            "v": 1,
                            "id": f"{rng.getrandbits(64):016x}",
                            "ts": round(ts, 3),
                            "host": host,
                            "pid": pid,
                            "proto": "wsgi",
                            "method": method,
                            "route": route,
                            "view": view,
                            "status": 500 if rng.random() < 0.002 else 200,
                            "ms": round(ms, 1),
                            "cpu_ms": round(ms * 0.2, 1),
                            "db": {"n": rng.randint(1, 40), "ms": round(ms * 0.1, 1)},
                            "dropped": 0,
                            "unsampled": 0,
                            "lost": {"queue": 0, "write": 0},
                            "calls": cs,
                        },
                        separators=(",", ":"),
                    )
                )
                if len(lines) >= 10_000:
                    fh.write("\n".join(lines) + "\n")
                    lines = []
            if lines:
                fh.write("\n".join(lines) + "\n")
        written += count
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    paths = generate(args.out_dir, args.requests, args.files, args.seed)
    print(f"wrote {args.requests} records to {len(paths)} files in {args.out_dir}")


if __name__ == "__main__":
    main()
