"""Stage 4, task extraction: a background task, a management command and the call-site change per finding.

``generate_stub`` makes one finding's stub, ``attach_stubs`` fills every candidate finding of a report,
``write_stubs`` writes the task modules, the commands and one combined patch for ``git apply``. One
:class:`StubGenerator` per task backend (``django_tasks``, ``celery``, ``rq``, ``dramatiq``, ``huey``,
``django_q``); ``detect_backend`` finds the one a site runs and ``inline_backend_warning`` says when its
configuration would run the work inside the request anyway.
"""

from __future__ import annotations

from async_audit.extract.base import StubGenerator, generator
from async_audit.extract.detect import BACKENDS, detect_backend, inline_backend_warning
from async_audit.extract.generate import DEFAULT_BACKEND, PATCH_NAME, attach_stubs, generate_stub, write_stubs

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "PATCH_NAME",
    "StubGenerator",
    "attach_stubs",
    "detect_backend",
    "generate_stub",
    "generator",
    "inline_backend_warning",
    "write_stubs",
]
