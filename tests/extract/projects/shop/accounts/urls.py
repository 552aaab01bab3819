from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("signup/", views.signup),
    path("teams/<int:team_id>/invite/", views.invite),
    path("contact/", views.sync_contact),
]
