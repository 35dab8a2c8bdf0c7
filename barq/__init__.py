"""Barq: a pure-Python HTTP framework and server for free-threaded CPython.

``def`` and ``async def`` handlers run on a real thread pool (async ones on one
event loop per worker thread); FastAPI-style routing, validation (Pydantic),
dependency injection, security schemes and middleware::

    from barq import Barq

    app = Barq()

    @app.get("/items/{item_id}")
    def read_item(item_id: int, q: str | None = None) -> dict:
        return {"id": item_id, "q": q}

    if __name__ == "__main__":
        app.run()

Public names:

- :class:`Barq` (and :class:`FastAPI`, the same with FastAPI's default title) — the
  application; :class:`APIRouter` / :class:`Router` — route groups; ``status``.
- :class:`Request`, :class:`Response`, :class:`JSONResponse`, :class:`HTMLResponse`,
  :class:`PlainTextResponse`, :class:`RedirectResponse`, :class:`StreamingResponse`,
  :class:`FileResponse`; :class:`StaticFiles` (``app.mount(...)``).
- Parameter markers :func:`Query`, :func:`Path`, :func:`Header`, :func:`Cookie`,
  :func:`Body`, :func:`Form`, :func:`File`, :func:`Depends` and :func:`Security`;
  :class:`UploadFile`;
  :class:`BackgroundTasks` / :class:`BackgroundTask`.
- :class:`HTTPException`, :class:`RequestValidationError`,
  :class:`ResponseValidationError`.
- :class:`State`, :class:`Headers`, :class:`QueryParams`, :class:`URL`.
- :class:`~barq.middleware.Middleware`, :class:`~barq.middleware.BaseHTTPMiddleware`,
  :class:`~barq.middleware.CORSMiddleware`, :class:`~barq.middleware.GZipMiddleware`.

The names are loaded lazily (on first use): ``import barq.http`` or
``import barq.server`` loads only that layer, not the framework and Pydantic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from barq._version import __version__
from barq.runtime import watch_gil

# On a free-threaded build, remember which imports re-enable the GIL (the server,
# `barq dev` and `barq doctor` name them). A no-op with a GIL.
watch_gil()

#: public name -> the module defining it
_EXPORTS: dict[str, str] = {
    "APIRouter": "barq.routing",
    "BackgroundTask": "barq.background",
    "BackgroundTasks": "barq.background",
    "Barq": "barq.app",
    "BaseHTTPMiddleware": "barq.middleware.base",
    "Body": "barq.params",
    "CORSMiddleware": "barq.middleware.cors",
    "Cookie": "barq.params",
    "Depends": "barq.params",
    "File": "barq.params",
    "FileResponse": "barq.files",
    "FastAPI": "barq.app",
    "Form": "barq.params",
    "GZipMiddleware": "barq.middleware.gzip",
    "HTMLResponse": "barq.responses",
    "HTTPException": "barq.exceptions",
    "Header": "barq.params",
    "Headers": "barq.datastructures",
    "JSONResponse": "barq.responses",
    "Middleware": "barq.middleware.base",
    "Path": "barq.params",
    "PlainTextResponse": "barq.responses",
    "Query": "barq.params",
    "QueryParams": "barq.datastructures",
    "RedirectResponse": "barq.responses",
    "Request": "barq.requests",
    "RequestValidationError": "barq.exceptions",
    "Response": "barq.responses",
    "ResponseValidationError": "barq.exceptions",
    "Router": "barq.routing",
    "Security": "barq.params",
    "State": "barq.datastructures",
    "StaticFiles": "barq.staticfiles",
    "StreamingResponse": "barq.streaming",
    "URL": "barq.datastructures",
    "UploadFile": "barq.datastructures",
    "WebSocket": "barq.websockets",
    "WebSocketDisconnect": "barq.websockets",
    "WebSocketException": "barq.websockets",
}

__all__ = [
    "URL",
    "APIRouter",
    "BackgroundTask",
    "BackgroundTasks",
    "Barq",
    "BaseHTTPMiddleware",
    "Body",
    "CORSMiddleware",
    "Cookie",
    "Depends",
    "FastAPI",
    "File",
    "FileResponse",
    "Form",
    "GZipMiddleware",
    "HTMLResponse",
    "HTTPException",
    "Header",
    "Headers",
    "JSONResponse",
    "Middleware",
    "Path",
    "PlainTextResponse",
    "Query",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "RequestValidationError",
    "Response",
    "ResponseValidationError",
    "Router",
    "Security",
    "State",
    "StaticFiles",
    "StreamingResponse",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "__version__",
    "status",
]


def __getattr__(name: str) -> Any:
    if name == "status":  # a module: ``from barq import status``
        return import_module("barq.status")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'barq' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from barq import status
    from barq.app import Barq, FastAPI
    from barq.background import BackgroundTask, BackgroundTasks
    from barq.datastructures import URL, Headers, QueryParams, State, UploadFile
    from barq.exceptions import HTTPException, RequestValidationError, ResponseValidationError
    from barq.files import FileResponse
    from barq.middleware import BaseHTTPMiddleware, CORSMiddleware, GZipMiddleware, Middleware
    from barq.params import Body, Cookie, Depends, File, Form, Header, Path, Query, Security
    from barq.requests import Request
    from barq.responses import (
        HTMLResponse,
        JSONResponse,
        PlainTextResponse,
        RedirectResponse,
        Response,
    )
    from barq.routing import APIRouter, Router
    from barq.staticfiles import StaticFiles
    from barq.streaming import StreamingResponse
    from barq.websockets import WebSocket, WebSocketDisconnect, WebSocketException
