"""The benchmark contenders: one module per framework, all serving the same endpoints.

Every app imports its data and behaviour from :mod:`benchmarks.apps.common`, so the
only thing that differs between contenders is the framework and the server. Each
module runs standalone (``python -m benchmarks.apps.barq_app --port 8000``) or is
loaded by uvicorn/gunicorn by its ``app`` attribute.
"""
