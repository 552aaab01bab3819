"""Stage 5: find slow calls in a Django project's source, before anything is deployed."""

from __future__ import annotations
