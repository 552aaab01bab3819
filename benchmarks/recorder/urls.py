from __future__ import annotations

from benchmarks.recorder import views
from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("trivial/", views.trivial),
    path("queries/", views.queries),
    path("outbound/", views.outbound),
    path("email/", views.email),
]
if "silk" in settings.INSTALLED_APPS:
    urlpatterns.append(path("silk/", include("silk.urls", namespace="silk")))
