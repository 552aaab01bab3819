"""Django settings for the test suite: a tiny site with the recorder installed."""

from __future__ import annotations

import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.site.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "async_audit",
    "tests.site",
]
MIDDLEWARE = [
    "async_audit.middleware.AuditMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ASYNC_AUDIT = {
    "OUTPUT_DIR": tempfile.mkdtemp(prefix="async-audit-tests-"),
    "PROJECT_ROOTS": [str(BASE_DIR)],
}

try:  # django-q2's tasks module holds models: its hook is only available with the app installed.
    import django_q  # noqa: F401
except ImportError:  # pragma: no cover - not installed on this stack
    pass
else:
    INSTALLED_APPS.append("django_q")
    Q_CLUSTER = {"name": "tests", "orm": "default", "timeout": 30, "retry": 60, "workers": 1}
