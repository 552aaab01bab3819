from __future__ import annotations

from django.apps import AppConfig


class SiteConfig(AppConfig):
    name = "tests.site"
    label = "testsite"
    default_auto_field = "django.db.models.BigAutoField"
