"""The Django app: install the hooks once at start-up; recording switches on per request in the middleware."""

from __future__ import annotations

from django.apps import AppConfig


class AsyncAuditConfig(AppConfig):
    name = "async_audit"
    verbose_name = "async-audit"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from async_audit import checks  # noqa: F401 - registers the system checks
        from async_audit.conf import get_config
        from async_audit.record.guard import guarded
        from async_audit.record.hooks import install_hooks

        with guarded():
            config = get_config()
            if config.enabled:
                install_hooks(config.hooks)
