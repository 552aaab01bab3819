from __future__ import annotations

import pytest

from async_audit.analyze import KNOWN_BUDGETS, budgets_from_config, parse_duration
from async_audit.analyze.model import Budgets
from async_audit.errors import ConfigError, UsageError


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("30s", 30_000.0),
        ("1.5s", 1_500.0),
        ("800ms", 800.0),
        ("2m", 120_000.0),
        (" 0.5 S ", 500.0),
        ("1h", 3.6e6),
    ],
)
def test_parse_duration(text: str, ms: float) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "30", "s", "-1s", "0s", "1.2.3s", "3 days", "1e400s", "nan s"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        parse_duration(text)


def test_known_budgets_cite_their_source() -> None:
    by_name = {b.name: b for b in KNOWN_BUDGETS}
    assert by_name["Heroku router"].seconds == 30.0
    assert by_name["gunicorn worker timeout"].seconds == 30.0
    assert by_name["nginx proxy_read_timeout"].seconds == 60.0
    assert by_name["AWS Application Load Balancer"].seconds == 60.0
    assert by_name["Cloudflare proxy"].seconds == 100.0
    assert by_name["Google Cloud Run"].seconds == 300.0
    assert by_name["uWSGI harakiri"].seconds is None
    assert all(b.source.startswith("https://") and b.applies_to for b in KNOWN_BUDGETS)


def test_budgets_from_config() -> None:
    budgets = budgets_from_config({"budget": "60s", "user_budget": "800ms", "user_percentile": 99})
    assert (budgets.platform_ms, budgets.user_ms, budgets.user_percentile) == (60_000.0, 800.0, 99.0)
    assert budgets_from_config({}) == Budgets()
    with pytest.raises(ConfigError, match="config budget"):
        budgets_from_config({"budget": "soon"})
    with pytest.raises(ConfigError, match="user_percentile"):
        budgets_from_config({"user_percentile": 101})
