"""Which organization a request acts for."""

from __future__ import annotations

from django.http import HttpRequest

from .models import Organization


def current_organization(request: HttpRequest) -> Organization:
    """The signed-in user's organization (views calling this are behind ``login_required``)."""
    return request.user.profile.organization  # type: ignore[union-attr]
