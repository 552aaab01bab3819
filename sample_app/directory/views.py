from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from elasticsearch import ApiError, TransportError

from .search import search_businesses

logger = logging.getLogger(__name__)


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    total, businesses, unavailable = 0, [], False
    if query:
        try:
            total, businesses = search_businesses(query[:200])
        except (ApiError, TransportError):
            logger.warning("directory search failed", exc_info=True)
            unavailable = True
    return render(
        request,
        "directory/search.html",
        {"query": query, "total": total, "businesses": businesses, "unavailable": unavailable},
    )
