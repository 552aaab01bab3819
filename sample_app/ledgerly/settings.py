"""Settings for Ledgerly: invoicing and payments for small businesses.

Twelve-factor style: everything that differs between a laptop, staging and production comes from the
environment. Service addresses default to the providers' real endpoints.
"""

from __future__ import annotations

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LEDGERLY_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-ledgerly-secret-key-change-me-in-production")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

# Django 6.0 ships background tasks; older versions use the django-tasks backport with the same API.
HAS_BUILTIN_TASKS = django.VERSION >= (6, 0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "accounts",
    "billing",
    "newsletters",
    "directory",
    "reports",
    "activity",
]
if not HAS_BUILTIN_TASKS:
    INSTALLED_APPS.append("django_tasks")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Performance audit: where do our requests spend their time? (async-audit; see docs/performance.md)
if env_bool("LEDGERLY_AUDIT", True):
    INSTALLED_APPS.append("async_audit")
    MIDDLEWARE.insert(0, "async_audit.middleware.AuditMiddleware")
    ASYNC_AUDIT = {
        "OUTPUT_DIR": os.environ.get("ASYNC_AUDIT_OUTPUT_DIR", str(VAR_DIR / "audit")),
        "PROJECT_ROOTS": [str(BASE_DIR)],
        "IGNORE_PATHS": ["/static/", "/favicon.ico", "/healthz/"],
        # The load benchmark samples and saturates the queue on purpose.
        "SAMPLE_RATE": float(os.environ.get("ASYNC_AUDIT_SAMPLE_RATE", "1.0")),
        "QUEUE_SIZE": int(os.environ.get("ASYNC_AUDIT_QUEUE_SIZE", "10000")),
    }

ROOT_URLCONF = "ledgerly.urls"
WSGI_APPLICATION = "ledgerly.wsgi.application"
ASGI_APPLICATION = "ledgerly.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("LEDGERLY_DATABASE_PATH", str(VAR_DIR / "ledgerly.sqlite3")),
        # Several gunicorn workers share the file: wait for the write lock rather than fail.
        "OPTIONS": {"timeout": 30},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if env_bool("LEDGERLY_FAST_PASSWORD_HASHER", False):
    # Load tests only: PBKDF2's cost is deliberate, but at a million iterations it would dominate them.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# Email: transactional mail goes through our SMTP relay.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "smtp.sendgrid.net")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = "Ledgerly <hello@ledgerly.example>"
NEWSLETTER_FROM_EMAIL = "Ledgerly Newsletters <news@ledgerly.example>"

# HubSpot: every new account becomes a CRM contact, every invoice a deal.
HUBSPOT_API_BASE = os.environ.get("HUBSPOT_API_BASE", "https://api.hubapi.com")
HUBSPOT_ACCESS_TOKEN = os.environ.get("HUBSPOT_ACCESS_TOKEN", "")

# Stripe: subscriptions are charged with PaymentIntents.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")

# Elasticsearch: the public business directory.
ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL", "http://localhost:9200")
DIRECTORY_INDEX = "ledgerly-businesses"

# Slack: the sales team's channel hears about every invoice.
SLACK_SALES_WEBHOOK_URL = os.environ.get("SLACK_SALES_WEBHOOK_URL", "")

# Revenue forecasts: simulated paths per export (more is smoother and slower).
FORECAST_SIMULATIONS = int(os.environ.get("LEDGERLY_FORECAST_SIMULATIONS", "200"))

TASKS = {
    "default": {
        # No worker in this deployment yet: tasks run right away, inside the request.
        "BACKEND": (
            "django.tasks.backends.immediate.ImmediateBackend"
            if HAS_BUILTIN_TASKS
            else "django_tasks.backends.immediate.ImmediateBackend"
        ),
    }
}
if os.environ.get("LEDGERLY_TASKS_BACKEND") == "db":
    # A real queue (django-tasks-db): tasks wait in the database until `manage.py db_worker` runs them.
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LEDGERLY_LOG_LEVEL", "WARNING")},
}
