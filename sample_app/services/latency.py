"""How slow, and how unreliable, a stand-in service is."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Latency:
    """Latency of one service: a typical delay with jitter, occasional slow calls and failures.

    Real third-party APIs are not uniformly slow: most calls land near the typical figure and a few take
    seconds (a cold cache, a retry inside the provider). ``slow_rate`` and ``fail_rate`` are shares of calls.
    """

    ms: float = 0.0
    jitter_ms: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 0.0
    fail_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("ms", "jitter_ms", "slow_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"Latency.{name} must not be negative")
        for name in ("slow_rate", "fail_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Latency.{name} is a share of calls, between 0 and 1")


NONE = Latency()


class Dice:
    """A seeded random source shared by a service's handler threads."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def roll(self, latency: Latency) -> tuple[float, bool]:
        """Return (delay in seconds, whether the call fails) for one call."""
        with self._lock:
            delay = latency.ms
            if latency.jitter_ms:
                delay = self._rng.gauss(latency.ms, latency.jitter_ms)
            if latency.slow_rate and self._rng.random() < latency.slow_rate:
                delay += latency.slow_ms
            fails = bool(latency.fail_rate) and self._rng.random() < latency.fail_rate
        return max(delay, 0.0) / 1000.0, fails
