"""Recorder overhead benchmark: added time per request against no middleware, django-silk and OpenTelemetry.

Run ``python -m benchmarks.recorder`` from the repository root; see ``benchmarks/README.md``.
"""
