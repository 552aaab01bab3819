SECRET_KEY = "fixture"
ROOT_URLCONF = "shop.urls"
INSTALLED_APPS = ["store", "api"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3", "ATOMIC_REQUESTS": False},
}
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
CRM_URL = "https://api.hubapi.com/crm/v3/objects/contacts"
CELERY_TASK_ALWAYS_EAGER = False
