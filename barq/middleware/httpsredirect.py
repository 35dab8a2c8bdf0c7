"""``HTTPSRedirectMiddleware``: send every plain-HTTP request to its HTTPS URL.

A request that arrived over ``http`` (as the server sees it: behind a proxy,
trust its ``X-Forwarded-Proto`` with the server's ``forwarded_allow_ips``) is
answered with a 307 redirect to the same URL with ``https`` (port 80 dropped),
so a POST stays a POST. Named as in FastAPI / Starlette.
"""

from __future__ import annotations

from barq.middleware.base import HookMiddleware
from barq.requests import Request
from barq.responses import RedirectResponse, Response

__all__ = ["HTTPSRedirectMiddleware"]


class HTTPSRedirectMiddleware(HookMiddleware):
    """Redirect ``http`` requests to ``https`` (307)."""

    def before(self, request: Request) -> Response | None:
        url = request.url
        if url.scheme not in ("http", "ws"):
            return None
        scheme = "https" if url.scheme == "http" else "wss"
        netloc = url.hostname if url.port in (80, 443) else url.netloc
        target = f"{scheme}://{netloc}{url.raw_path}"
        if url.query:
            target += "?" + url.query
        return RedirectResponse(target, status_code=307)
