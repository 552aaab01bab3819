"""Benchmark of the static scanner: lines of Python scanned per second."""
