"""The default exception handlers under FastAPI's names, for handlers of your own
that add something (a log line, a header) and then answer as Barq would::

    @app.exception_handler(RequestValidationError)
    async def log_and_answer(request, exc):
        logger.info("invalid request: %s", exc)
        return await request_validation_exception_handler(request, exc)

They are ``async def`` as FastAPI's are (``await`` them); the app itself uses
the plain ones in :mod:`barq.app`.
"""

from __future__ import annotations

from barq import app as _app
from barq.exceptions import HTTPException, RequestValidationError
from barq.requests import Request
from barq.responses import Response

__all__ = ["http_exception_handler", "request_validation_exception_handler"]


async def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    """``{"detail": ...}`` with the exception's status and headers."""
    return _app.http_exception_handler(request, exc)


async def request_validation_exception_handler(
    request: Request, exc: RequestValidationError
) -> Response:
    """422 with ``{"detail": [errors]}``."""
    return _app.request_validation_exception_handler(request, exc)
