"""Suite-wide fixtures: any error the recorder swallows fails the test that caused it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from async_audit.record.guard import on_internal_error


class InternalErrors(list[BaseException]):
    """Errors the recorder swallowed during a test; a test that provokes them on purpose clears the list."""

    expected = False


@pytest.fixture(autouse=True)
def internal_errors() -> Iterator[InternalErrors]:
    errors = InternalErrors()
    remove = on_internal_error(errors.append)
    yield errors
    remove()
    if errors and not errors.expected:
        raise AssertionError(f"async-audit swallowed internal errors: {errors!r}") from errors[0]
