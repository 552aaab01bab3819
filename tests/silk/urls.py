from __future__ import annotations

from django.urls import include, path

from tests.silk import views

urlpatterns = [
    path("notes/", views.notes, name="notes"),
    path("orders/<int:pk>/", views.order, name="order"),
    path("profiled/", views.profiled, name="profiled"),
    path("killed/", views.killed, name="killed"),
    path("silk/", include("silk.urls", namespace="silk")),
]
