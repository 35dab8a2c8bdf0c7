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
  :class:`PlainTextResponse`, :class:`RedirectResponse`.
- Parameter markers :func:`Query`, :func:`Path`, :func:`Header`, :func:`Cookie`,
  :func:`Body` and :func:`Depends`.
- :class:`HTTPException`, :class:`RequestValidationError`,
  :class:`ResponseValidationError`.
- :class:`State`, :class:`Headers`, :class:`QueryParams`, :class:`URL`.
- :class:`~barq.middleware.Middleware`, :class:`~barq.middleware.BaseHTTPMiddleware`,
  :class:`~barq.middleware.CORSMiddleware`, :class:`~barq.middleware.GZipMiddleware`.
"""

from barq._version import __version__
from barq.app import Barq
from barq.datastructures import URL, Headers, QueryParams, State
from barq.exceptions import HTTPException, RequestValidationError, ResponseValidationError
from barq.middleware import BaseHTTPMiddleware, CORSMiddleware, GZipMiddleware, Middleware
from barq.params import Body, Cookie, Depends, Header, Path, Query
from barq.requests import Request
from barq.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from barq.routing import APIRouter, Router

__all__ = [
    "URL",
    "APIRouter",
    "Barq",
    "BaseHTTPMiddleware",
    "Body",
    "CORSMiddleware",
    "Cookie",
    "Depends",
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
    "__version__",
]
