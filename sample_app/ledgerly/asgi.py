"""ASGI entry point, for uvicorn: ``uvicorn ledgerly.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerly.settings")

application = get_asgi_application()
