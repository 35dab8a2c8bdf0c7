"""CORS: answer preflight requests and add ``Access-Control-*`` headers.

Semantics follow the Fetch standard (and Starlette's middleware): a preflight is an
``OPTIONS`` request with ``Origin`` and ``Access-Control-Request-Method``; it is
answered here (200, or 400 naming what was not allowed) without reaching the app.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from barq.http.semantics import METHODS
from barq.middleware.base import CallNext, HookMiddleware
from barq.requests import Request
from barq.responses import PlainTextResponse, Response

__all__ = ["CORSMiddleware"]

_SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})
# ``allow_methods=["*"]``: every method Barq implements but TRACE, which the
# Fetch standard forbids scripts to send.
_ALL_METHODS = tuple(m for m in METHODS if m != "TRACE")


class CORSMiddleware(HookMiddleware):
    """Cross-Origin Resource Sharing.

    - ``allow_origins``: exact origins (``"https://example.com"``) or ``["*"]``.
    - ``allow_origin_regex``: a regex an origin must fully match.
    - ``allow_methods`` (default ``["GET"]``), ``allow_headers`` (``["*"]`` for any).
    - ``allow_credentials``: send ``Access-Control-Allow-Credentials: true``; the
      origin is then echoed instead of ``*``.
    - ``expose_headers``: response headers scripts may read.
    - ``max_age``: seconds browsers may cache a preflight answer.
    """

    def __init__(
        self,
        app: CallNext,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        super().__init__(app)
        if isinstance(allow_origins, str):
            allow_origins = [allow_origins]
        self.allow_all_origins = "*" in allow_origins
        self.allow_origins = frozenset(o.rstrip("/") for o in allow_origins if o != "*")
        self.origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        methods = [m.upper() for m in allow_methods]
        self.allow_all_methods = "*" in methods
        self.allow_methods = frozenset(_ALL_METHODS if self.allow_all_methods else methods)
        headers = [h.lower() for h in allow_headers]
        self.allow_all_headers = "*" in headers
        self.allow_headers = frozenset(headers) | _SAFELISTED_HEADERS
        self.allow_credentials = allow_credentials
        self.expose_headers = ", ".join(expose_headers)
        self.max_age = max_age
        self.explicit_origin = bool(allow_credentials or self.allow_origins or self.origin_regex)

    def is_allowed_origin(self, origin: str) -> bool:
        """Whether ``origin`` may make cross-origin requests."""
        if self.allow_all_origins:
            return True
        if origin in self.allow_origins:
            return True
        return self.origin_regex is not None and self.origin_regex.fullmatch(origin) is not None

    def before(self, request: Request) -> Response | None:
        """Answer preflight requests here."""
        raw = request.raw
        if raw.method != "OPTIONS" or raw.header("access-control-request-method") is None:
            return None
        origin = raw.header("origin")
        return self.preflight(request, origin) if origin is not None else None

    def after(self, request: Request, response: Response) -> Response:
        """Decorate the app's responses to cross-origin requests."""
        origin = request.raw.header("origin")
        if origin is not None:
            self._decorate(request, response, origin)
        return response

    def _decorate(self, request: Request, response: Response, origin: str) -> None:
        headers = response.headers
        if self.allow_all_origins and not self.explicit_origin and "cookie" not in request.headers:
            headers["access-control-allow-origin"] = "*"
        elif self.is_allowed_origin(origin):
            headers["access-control-allow-origin"] = origin
            headers.add_vary_header("Origin")
        else:
            return
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        if self.expose_headers:
            headers["access-control-expose-headers"] = self.expose_headers

    def preflight(self, request: Request, origin: str) -> Response:
        """The answer to a CORS preflight request."""
        raw = request.raw
        method = (raw.header("access-control-request-method") or "").upper()
        requested = raw.header("access-control-request-headers") or ""
        problems = []
        headers: dict[str, str] = {}
        if self.is_allowed_origin(origin):
            if self.allow_all_origins and not self.explicit_origin:
                headers["access-control-allow-origin"] = "*"
            else:
                headers["access-control-allow-origin"] = origin
                headers["vary"] = "Origin"
        else:
            problems.append("origin")
        if method not in self.allow_methods:
            problems.append("method")
        names = [h.strip().lower() for h in requested.split(",") if h.strip()]
        if not self.allow_all_headers:
            if any(h not in self.allow_headers for h in names):
                problems.append("headers")
            allowed_headers = ", ".join(sorted(self.allow_headers))
        else:  # echo what was asked, as it was spelled (as Starlette does)
            allowed_headers = requested.strip() if names else "*"
        if problems:
            return PlainTextResponse(
                f"Disallowed CORS {', '.join(problems)}", status_code=400, headers=headers
            )
        headers["access-control-allow-methods"] = ", ".join(sorted(self.allow_methods))
        if allowed_headers:
            headers["access-control-allow-headers"] = allowed_headers
        headers["access-control-max-age"] = str(self.max_age)
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        return PlainTextResponse("OK", status_code=200, headers=headers)
