"""async-audit: find the slow, non-interactive work inside a Django site's requests."""
