"""The business directory lives in Elasticsearch: one document per listed organization."""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.conf import settings
from elasticsearch import ApiError, Elasticsearch, TransportError

from accounts.models import Organization

logger = logging.getLogger(__name__)


@functools.cache
def get_client() -> Elasticsearch:
    return Elasticsearch(settings.ELASTICSEARCH_URL, request_timeout=5, max_retries=1, retry_on_timeout=False)


def business_document(organization: Organization) -> dict[str, Any]:
    return {
        "name": organization.name,
        "slug": organization.slug,
        "industry": organization.industry,
        "industry_label": organization.get_industry_display(),
        "city": organization.city,
        "joined": organization.created_at.date().isoformat(),
    }


def index_business(organization: Organization) -> None:
    """Add or refresh the organization's directory listing."""
    try:
        get_client().index(  # audit: signup-directory-index
            index=settings.DIRECTORY_INDEX,
            id=str(organization.pk),
            document=business_document(organization),
        )
    except (ApiError, TransportError):
        logger.warning("directory listing for organization %s failed", organization.pk, exc_info=True)


def search_businesses(query: str, *, size: int = 20) -> tuple[int, list[dict[str, Any]]]:
    """Businesses matching ``query``: (total hits, the first ``size`` listings)."""
    result = get_client().search(  # audit: directory-search
        index=settings.DIRECTORY_INDEX,
        query={"multi_match": {"query": query, "fields": ["name^3", "industry_label", "city"]}},
        size=size,
    )
    hits = result["hits"]
    return hits["total"]["value"], [hit["_source"] for hit in hits["hits"]]
