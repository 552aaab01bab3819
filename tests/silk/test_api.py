from __future__ import annotations

import async_audit.silk


def test_public_names() -> None:
    assert async_audit.silk.__all__ == [
        "DEFAULT_SLOW_SQL_MS",
        "ImportStats",
        "Resolver",
        "django_resolver",
        "import_silk",
        "import_silk_django",
        "site_resolver",
    ]
    assert all(hasattr(async_audit.silk, name) for name in async_audit.silk.__all__)
