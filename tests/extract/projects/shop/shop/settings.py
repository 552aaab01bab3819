"""A small shop whose views do slow work inside requests; the task backend comes from SHOP_BACKEND."""

from __future__ import annotations

import os

import django

BACKEND = os.environ.get("SHOP_BACKEND", "")
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "shop.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "accounts"]
MIDDLEWARE: list[str] = []
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DB", "shop.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("SHOP_SMTP_PORT", "25"))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = "hello@shop.example"
CRM_URL = os.environ.get("SHOP_CRM_URL", "")

if BACKEND == "django_tasks":
    if django.VERSION >= (6, 0):
        TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    else:
        INSTALLED_APPS.append("django_tasks")
        TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
elif BACKEND == "django_tasks_db":
    # A real queue: tasks wait in the database until `manage.py db_worker` runs them.
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif BACKEND == "celery":
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
elif BACKEND == "rq":
    INSTALLED_APPS.append("django_rq")
    CACHES["rq"] = {"BACKEND": "shop.fakeredis_cache.FakeRedisCache"}
    RQ_QUEUES = {"default": {"USE_REDIS_CACHE": "rq", "ASYNC": False}}
elif BACKEND == "huey":
    INSTALLED_APPS.append("huey.contrib.djhuey")
    HUEY = {"name": "shop", "immediate": True}
elif BACKEND == "django_q":
    INSTALLED_APPS.append("django_q")
    Q_CLUSTER = {"name": "shop", "sync": True, "orm": "default", "timeout": 60, "retry": 120}

# Tables straight from the models: the shop's database lives for one run only.
MIGRATION_MODULES = {app.rsplit(".", 1)[-1]: None for app in INSTALLED_APPS}
