"""A test site running django-silk and async-audit's recorder together, in its own process.

``SILK_TEST_DB`` names the database: a SQLite file path, or a ``postgresql://`` URL. ``SILK_TEST_ORDER`` is
``audit-first`` (the default) or ``silk-first``: the two middlewares' order.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.silk.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "silk",
    "async_audit",
    "tests.site",
]
_AUDIT = "async_audit.middleware.AuditMiddleware"
_SILK = "silk.middleware.SilkyMiddleware"
_ORDER = [_SILK, _AUDIT] if os.environ.get("SILK_TEST_ORDER") == "silk-first" else [_AUDIT, _SILK]
MIDDLEWARE = [*_ORDER, "django.middleware.common.CommonMiddleware"]

_DB = os.environ.get("SILK_TEST_DB") or str(Path(tempfile.mkdtemp(prefix="silk-tests-")) / "db.sqlite3")
if _DB.startswith("postgresql://"):
    _URL = urlsplit(_DB)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _URL.path.lstrip("/"),
            "USER": _URL.username or "",
            "HOST": _URL.hostname or "",
            "PORT": str(_URL.port or ""),
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _DB}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

SILKY_PYTHON_PROFILER = True
SILKY_META = False
SILKY_AUTHENTICATION = False
SILKY_AUTHORISATION = False

ASYNC_AUDIT = {
    "OUTPUT_DIR": os.environ.get("SILK_TEST_RECORDS") or tempfile.mkdtemp(prefix="async-audit-silk-"),
    "PROJECT_ROOTS": [str(BASE_DIR)],
    "SLOW_SQL_MS": 0.0,
    "HOOKS": ["sql"],
}
