"""GZip: compress response bodies for clients that accept it."""

from __future__ import annotations

import gzip

from barq.http.semantics import body_allowed
from barq.middleware.base import CallNext, HookMiddleware
from barq.requests import Request
from barq.responses import Response

__all__ = ["GZipMiddleware", "accepts_gzip"]

_SKIP_TYPES = ("text/event-stream", "image/", "video/", "audio/", "application/zip")


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip;q=0`` forbids it)."""
    if not accept_encoding:
        return False
    star: bool | None = None
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q > 0
    return bool(star)


class GZipMiddleware(HookMiddleware):
    """Gzip response bodies of at least ``minimum_size`` bytes when the client sends
    ``Accept-Encoding: gzip``. Adds ``Vary: Accept-Encoding`` to every response that
    could be compressed; leaves already-encoded, streamed and media responses alone."""

    def __init__(self, app: CallNext, minimum_size: int = 500, compresslevel: int = 6) -> None:
        super().__init__(app)
        if not 0 <= compresslevel <= 9:
            raise ValueError("compresslevel must be between 0 and 9")
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    def after(self, request: Request, response: Response) -> Response:
        """Compress the app's response if it is worth it and allowed."""
        if not response.buffered or len(response.body) < self.minimum_size:
            return response
        status = response.status_code
        if not body_allowed(status) or status == 206:
            return response  # no content, or a byte range of the uncompressed one
        headers = response.headers
        if "content-encoding" in headers:
            return response
        content_type = headers.get("content-type") or response.media_type or ""
        if content_type.startswith(_SKIP_TYPES):
            return response
        headers.add_vary_header("Accept-Encoding")
        if not accepts_gzip(request.raw.header("accept-encoding")):
            return response
        response.body = gzip.compress(response.body, self.compresslevel, mtime=0)
        headers["content-encoding"] = "gzip"
        headers.pop("content-length")
        etag = headers.get("etag")
        if etag is not None and not etag.startswith("W/"):
            headers["etag"] = f"W/{etag}"
        return response
