"""``from barq.openapi.utils import get_openapi``: FastAPI's module for building
the document yourself (e.g. to add ``info["x-logo"]`` once and set
``app.openapi = custom_openapi``). The function is :func:`barq.openapi.get_openapi`."""

from __future__ import annotations

from barq.openapi.generator import get_openapi

__all__ = ["get_openapi"]
