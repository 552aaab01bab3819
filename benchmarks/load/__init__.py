"""Load and fault benchmark of the recorder under gunicorn and uvicorn (``python -m benchmarks.load``)."""
