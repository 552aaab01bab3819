"""Capture records in memory, for tests of the audited site and for ours.

::

    from async_audit.testing import capture_records

    with capture_records() as records:
        client.post("/signup/", {...})
    assert [c["kind"] for c in records[0]["calls"]] == ["email", "http"]

Records are handed over when each request finishes, synchronously, instead of going to the sink; each is
round-tripped through JSON so it is exactly what a record file would hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from async_audit.record.recorder import add_capture, remove_capture


class Records(list[dict[str, Any]]):
    """The captured records; ``calls(kind)`` flattens the calls of every record."""

    def calls(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [c for r in self for c in r["calls"] if kind is None or c["kind"] == kind]


class _JsonList(list[dict[str, Any]]):
    def __init__(self, target: Records) -> None:
        super().__init__()
        self.target = target

    def append(self, record: dict[str, Any]) -> None:
        self.target.append(json.loads(json.dumps(record, default=str)))


@contextmanager
def capture_records() -> Iterator[Records]:
    """Collect every record finished inside the block (from any thread) into a list."""
    records = Records()
    sink = _JsonList(records)
    add_capture(sink)
    try:
        yield records
    finally:
        remove_capture(sink)
