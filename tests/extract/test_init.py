"""The public API of async_audit.extract."""

from __future__ import annotations

import async_audit.extract as extract


def test_public_names_are_pinned_and_sorted() -> None:
    assert extract.__all__ == [
        "BACKENDS",
        "DEFAULT_BACKEND",
        "PATCH_NAME",
        "StubGenerator",
        "attach_stubs",
        "detect_backend",
        "generate_stub",
        "generator",
        "inline_backend_warning",
        "write_stubs",
    ]
    assert extract.__all__ == sorted(extract.__all__)
    assert all(hasattr(extract, name) for name in extract.__all__)
