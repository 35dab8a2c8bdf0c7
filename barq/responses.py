"""Response classes: what a handler may return instead of plain data.

Every response has a ``status_code``, case-insensitive mutable ``headers``,
``set_cookie``/``delete_cookie`` and an optional ``background`` callable run after
the response has been sent. :meth:`Response.to_http` turns it into the
:class:`~barq.http.messages.HTTPResponse` the server writes.

Returning a :class:`Response` from a handler bypasses its response model.
The responses whose body is not in memory live in their own modules and are
importable from here too: :class:`~barq.streaming.StreamingResponse` and
:class:`~barq.files.FileResponse`.
"""

from __future__ import annotations

import http.cookies
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from barq import jsonlib
from barq.datastructures import MutableHeaders
from barq.http.messages import HTTPResponse
from barq.http.semantics import body_allowed

if TYPE_CHECKING:
    from barq.files import FileResponse
    from barq.streaming import StreamingResponse

__all__ = [
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
]


class Response:
    """A response with an in-memory body.

    ``content`` may be ``bytes``, ``str`` (encoded with :attr:`charset`) or ``None``;
    subclasses override :meth:`render` to accept other values (JSON, ...).
    ``media_type`` becomes the ``Content-Type`` (``; charset=utf-8`` is added for
    ``text/*``) unless ``headers`` already has one.
    """

    __slots__ = ("_headers", "background", "body", "media_type", "status_code")

    media_type_default: str | None = None
    charset = "utf-8"
    #: True when the whole body is in :attr:`body` (middleware such as GZip may rewrite it).
    buffered = True

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is None:
            # FastAPI's spelling: a subclass declaring ``media_type = "..."``
            declared = getattr(type(self), "media_type", None)
            media_type = declared if isinstance(declared, str) else self.media_type_default
        self.media_type = media_type
        self.body: bytes = self.render(content)
        self._headers: MutableHeaders | None = MutableHeaders(headers) if headers else None
        self.background = background

    def render(self, content: Any) -> bytes:
        """Encode ``content`` into the body bytes."""
        if content is None:
            return b""
        if isinstance(content, bytes | bytearray | memoryview):
            return bytes(content)
        if isinstance(content, str):
            return content.encode(self.charset)
        raise TypeError(
            f"{type(self).__name__} content must be bytes or str, not {type(content).__name__}; "
            "use JSONResponse for data"
        )

    @property
    def headers(self) -> MutableHeaders:
        """The response headers (case-insensitive, mutable)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = MutableHeaders()
        return headers

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header.

        ``expires`` may be a datetime, an HTTP date string, or seconds from now.
        """
        cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        cookie[key] = value
        morsel = cookie[key]
        if max_age is not None:
            morsel["max-age"] = max_age
        if expires is not None:
            if isinstance(expires, datetime):
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=UTC)
                morsel["expires"] = format_datetime(expires.astimezone(UTC), usegmt=True)
            elif isinstance(expires, int):
                morsel["expires"] = format_datetime(
                    datetime.fromtimestamp(time.time() + expires, UTC), usegmt=True
                )
            else:
                morsel["expires"] = expires
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("strict", "lax", "none"):
                raise ValueError("samesite must be 'strict', 'lax' or 'none'")
            morsel["samesite"] = samesite
        line = morsel.OutputString()
        if partitioned:
            line += "; Partitioned"
        self.headers.append("set-cookie", line)

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Expire cookie ``key`` in the browser (same path/domain as when it was set)."""
        self.set_cookie(
            key,
            "",
            max_age=0,
            expires=datetime(1970, 1, 1, tzinfo=UTC),
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    def _header_list(self, has_body: bool | None = None) -> list[tuple[str, str]]:
        """The headers as str pairs, with ``content-type`` when there is content."""
        headers = self._headers
        raw: list[tuple[str, str]] = list(headers.raw) if headers is not None else []
        media_type = self.media_type
        if has_body is None:
            has_body = body_allowed(self.status_code)
        if (
            media_type is not None
            and has_body
            and (headers is None or "content-type" not in headers)
        ):
            if media_type.startswith("text/") and "charset=" not in media_type:
                media_type = f"{media_type}; charset={self.charset}"
            raw.append(("content-type", media_type))
        return raw

    def to_http(self, request: Any = None) -> HTTPResponse:
        """The wire-level response for the server (headers as lower-case str pairs).

        ``request`` (the :class:`~barq.requests.Request`, when known) lets
        subclasses answer conditional or range requests (see ``FileResponse``).
        """
        status = self.status_code
        has_body = body_allowed(status)
        body = self.body if has_body else b""
        return HTTPResponse(status, self._header_list(has_body), body, on_complete=self.background)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code} {len(self.body)} bytes>"


class JSONResponse(Response):
    """JSON body from any value :mod:`barq.jsonlib` can serialise (models, dataclasses, ...)."""

    __slots__ = ()
    media_type_default = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` with :func:`barq.jsonlib.dumps`."""
        return jsonlib.dumps(content)


class HTMLResponse(Response):
    """``text/html; charset=utf-8`` body from a str."""

    __slots__ = ()
    media_type_default = "text/html"


class PlainTextResponse(Response):
    """``text/plain; charset=utf-8`` body from a str."""

    __slots__ = ()
    media_type_default = "text/plain"


class RedirectResponse(Response):
    """Redirect to ``url`` (307 by default, keeping the method; use 303 after a POST)."""

    __slots__ = ()

    def __init__(
        self,
        url: str | Any,
        status_code: int = 307,
        headers: Mapping[str, str] | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, None, background)
        self.headers["location"] = quote(str(url), safe=":/%#?=@[]!$&'()*+,;~")


def __getattr__(name: str) -> Any:
    # FileResponse and StreamingResponse subclass Response: importable from
    # here, defined (and imported on first use) in their own modules.
    if name == "FileResponse":
        from barq.files import FileResponse

        return FileResponse
    if name == "StreamingResponse":
        from barq.streaming import StreamingResponse

        return StreamingResponse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
