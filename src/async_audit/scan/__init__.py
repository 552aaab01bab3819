"""Stage 5: find slow calls in a Django project's source, before anything is deployed.

::

    report = scan_project(Path("~/src/site"))           # a Report with Sources.kind == "static"
    result_reaches_response(Path("~/src/site"), site)   # does a call's value reach the response?
    merge_static(recorded_report, report)               # one report: confirmed, missed, source-only
"""

from __future__ import annotations

from async_audit.scan.dataflow import result_reaches_response
from async_audit.scan.merge import merge_static
from async_audit.scan.scanner import DEFAULT_MAX_DEPTH, scan_project

__all__ = ["DEFAULT_MAX_DEPTH", "merge_static", "result_reaches_response", "scan_project"]
