"""async-audit: find the slow, non-interactive work inside a Django site's requests.

The runtime API is small: add ``"async_audit"`` to ``INSTALLED_APPS`` and
``"async_audit.middleware.AuditMiddleware"`` first in ``MIDDLEWARE``, and mark your own slow blocks with
:func:`track`. Everything else is the ``async-audit`` command line.
"""

from __future__ import annotations

from async_audit.record.track import track

__version__ = "0.1.0"

__all__ = ["__version__", "track"]
