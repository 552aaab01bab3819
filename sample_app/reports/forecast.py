"""A 12-month revenue forecast: Monte Carlo over each customer's paying and churning.

Accountants like ranges more than single numbers, so we simulate many futures and report percentiles.
"""

from __future__ import annotations

import csv
import datetime
import io
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MONTHS = 12


@dataclass(frozen=True)
class CustomerHistory:
    monthly_cents: int  # what they were invoiced in an average month
    pay_rate: float  # share of their invoices paid
    churn_rate: float  # monthly chance they stop buying


def simulate(customers: Sequence[CustomerHistory], *, simulations: int, seed: int) -> list[list[int]]:
    """Revenue per month (cents) for each simulated future: ``simulations`` rows of ``MONTHS`` values."""
    rng = random.Random(seed)
    futures = []
    for _ in range(simulations):
        active = [True] * len(customers)
        months = []
        for _month in range(MONTHS):
            revenue = 0
            for i, customer in enumerate(customers):
                if not active[i]:
                    continue
                if rng.random() < customer.churn_rate:
                    active[i] = False
                    continue
                if rng.random() < customer.pay_rate:
                    revenue += int(customer.monthly_cents * rng.lognormvariate(0, 0.25))
            months.append(revenue)
        futures.append(months)
    return futures


def forecast_csv(
    customers: Sequence[CustomerHistory], *, simulations: int, start: datetime.date, seed: int
) -> str:
    futures = simulate(customers, simulations=simulations, seed=seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["month", "p10", "median", "p90"])
    for month in range(MONTHS):
        values = sorted(future[month] for future in futures)
        deciles = statistics.quantiles(values, n=10) if len(values) > 1 else [values[0]] * 9
        label = datetime.date(
            start.year + (start.month - 1 + month) // 12, (start.month - 1 + month) % 12 + 1, 1
        )
        writer.writerow(
            [
                label.strftime("%Y-%m"),
                f"{deciles[0] / 100:.2f}",
                f"{deciles[4] / 100:.2f}",
                f"{deciles[8] / 100:.2f}",
            ]
        )
    return out.getvalue()
