from __future__ import annotations

import pytest

from services.latency import Dice, Latency


def test_same_seed_replays_the_same_delays_and_failures() -> None:
    latency = Latency(ms=100, jitter_ms=30, slow_rate=0.2, slow_ms=1000, fail_rate=0.1)
    first, second = Dice(42), Dice(42)
    assert [first.roll(latency) for _ in range(50)] == [second.roll(latency) for _ in range(50)]
    assert [Dice(43).roll(latency) for _ in range(50)] != [Dice(42).roll(latency) for _ in range(50)]


def test_rates_and_delays_follow_the_settings() -> None:
    dice = Dice(1)
    rolls = [dice.roll(Latency(ms=50, slow_rate=0.25, slow_ms=500, fail_rate=0.1)) for _ in range(2000)]
    slow = sum(delay >= 0.5 for delay, _ in rolls)
    failed = sum(fails for _, fails in rolls)
    assert 400 < slow < 600  # a quarter of 2000
    assert 120 < failed < 280  # a tenth
    assert {round(delay, 3) for delay, _ in rolls} == {0.05, 0.55}


def test_no_latency_means_no_delay_and_no_failure() -> None:
    dice = Dice(0)
    assert {dice.roll(Latency()) for _ in range(100)} == {(0.0, False)}


def test_jitter_never_makes_a_negative_delay() -> None:
    dice = Dice(3)
    assert min(dice.roll(Latency(ms=1, jitter_ms=50))[0] for _ in range(500)) == 0.0


@pytest.mark.parametrize(
    "kwargs", [{"ms": -1}, {"jitter_ms": -5}, {"slow_ms": -1}, {"slow_rate": 1.5}, {"fail_rate": -0.1}]
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Latency(**kwargs)
