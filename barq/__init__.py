"""Barq: a pure-Python HTTP framework and server for free-threaded CPython.

Plain ``def`` handlers run on a real thread pool; FastAPI-style routing,
validation (Pydantic), dependency injection and middleware::

    from barq import Barq

    app = Barq()

    @app.get("/items/{item_id}")
    def read_item(item_id: int, q: str | None = None) -> dict:
        return {"id": item_id, "q": q}

    if __name__ == "__main__":
        app.run()

Public names:

- :class:`Barq` — the application; :class:`APIRouter` / :class:`Router` — route groups.
- :class:`Request`, :class:`Response`, :class:`JSONResponse`, :class:`HTMLResponse`,
  :class:`PlainTextResponse`, :class:`RedirectResponse`, :class:`StreamingResponse`,
  :class:`FileResponse`; :class:`StaticFiles` (``app.mount(...)``).
- Parameter markers :func:`Query`, :func:`Path`, :func:`Header`, :func:`Cookie`,
  :func:`Body`, :func:`Form`, :func:`File` and :func:`Depends`; :class:`UploadFile`;
  :class:`BackgroundTasks` / :class:`BackgroundTask`.
- :class:`HTTPException`, :class:`RequestValidationError`,
  :class:`ResponseValidationError`.
- :class:`State`, :class:`Headers`, :class:`QueryParams`, :class:`URL`.
- :class:`~barq.middleware.Middleware`, :class:`~barq.middleware.BaseHTTPMiddleware`,
  :class:`~barq.middleware.CORSMiddleware`, :class:`~barq.middleware.GZipMiddleware`.
"""

from barq._version import __version__
from barq.app import Barq
from barq.background import BackgroundTask, BackgroundTasks
from barq.datastructures import URL, Headers, QueryParams, State
from barq.exceptions import HTTPException, RequestValidationError, ResponseValidationError
from barq.forms import File, Form, UploadFile
from barq.middleware import BaseHTTPMiddleware, CORSMiddleware, GZipMiddleware, Middleware
from barq.params import Body, Cookie, Depends, Header, Path, Query
from barq.requests import Request
from barq.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from barq.routing import APIRouter, Router
from barq.staticfiles import StaticFiles

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
    "State",
    "StaticFiles",
    "StreamingResponse",
    "UploadFile",
    "__version__",
]
