"""The JSON report: ``Report.to_dict()``, the machine contract (``schema`` 1)."""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

from async_audit.analyze.model import Report
from async_audit.report.base import Renderer


class JSONRenderer(Renderer):
    """Strict JSON (no NaN or Infinity); ``<``, ``>`` and ``&`` as ``\\u`` escapes, so the document can be
    pasted into an HTML page or a ``<script>`` block without recorded text breaking out of it."""

    name: ClassVar[str] = "json"
    output_file_extension: ClassVar[str] = "json"

    def render(self, report: Report) -> str:
        text = json.dumps(_finite(report.to_dict()), indent=2, ensure_ascii=False, allow_nan=False)
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        # U+2028/2029 are valid in JSON but end a line in JavaScript source.
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
