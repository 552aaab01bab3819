"""A cache whose client is an in-memory Redis, so django-rq runs without a Redis server."""

from __future__ import annotations

from typing import Any

import fakeredis
from django.core.cache.backends.locmem import LocMemCache


class FakeRedisCache(LocMemCache):
    def __init__(self, name: str, params: dict[str, Any]) -> None:
        super().__init__(name, params)
        self._client = fakeredis.FakeRedis()
