"""Mounting: serve a path prefix with another application.

``app.mount("/static", StaticFiles(directory="static"))`` sends every request
whose path is ``/static`` or starts with ``/static/`` to the mounted object,
with the prefix removed from ``request.path`` (``/static/css/site.css`` →
``/css/site.css``; the original ``target`` is kept). A mount takes precedence
over the app's routes for its prefix; the longest matching prefix wins. A
request for exactly the prefix is redirected (307) to the prefix plus ``/``.
``app.mount("/", ...)`` is a *fallback*: it only sees requests no route matched.

What can be mounted:

- an object with ``serve_request(request: Request) -> Response``
  (:class:`Mountable`): another :class:`~barq.Barq` app (its middleware, routes
  and exception handlers apply; its ``startup``/``shutdown``/``build`` run with
  the parent's) or :class:`~barq.staticfiles.StaticFiles`; the response goes
  through the parent's middleware like any other;
- any server application ``app(HTTPRequest) -> HTTPResponse``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from barq.exceptions import BarqError
from barq.http.messages import HTTPRequest, HTTPResponse
from barq.requests import Request
from barq.responses import RedirectResponse, Response

__all__ = [
    "HTTPResponseWrapper",
    "Mountable",
    "acall_mounted",
    "add_mount",
    "call_mounted",
    "dispatch_mount",
    "find_mount",
    "sub_request",
]


@runtime_checkable
class Mountable(Protocol):
    """What a mounted object provides, besides being a plain server application."""

    def serve_request(self, request: Request, /) -> Response:
        """The response for ``request`` (its ``raw.path`` is relative to the mount)."""
        ...


def add_mount(mounts: list[tuple[str, Any]], path: str, app: Any, name: str | None = None) -> None:
    """Validate and insert ``(path, app)`` into ``mounts`` (kept longest prefix first)."""
    if not path.startswith("/"):
        raise BarqError(f"mount path {path!r} must start with '/'")
    if "{" in path or "}" in path:
        raise BarqError(f"mount path {path!r} cannot have parameters")
    prefix = path.rstrip("/")
    if any(existing == prefix for existing, _ in mounts):
        raise BarqError(f"something is already mounted at {path!r}")
    if not callable(app) and not hasattr(app, "serve_request"):
        raise BarqError(f"cannot mount {app!r}: it is not an application")
    mounts.append((prefix, app))
    mounts.sort(key=lambda item: len(item[0]), reverse=True)


def sub_request(raw: HTTPRequest, rest: str) -> HTTPRequest:
    """A copy of ``raw`` whose ``path`` is ``rest`` (target, headers, body unchanged)."""
    sub = HTTPRequest(
        raw.method,
        raw.target,
        rest,
        raw.query,
        raw.http_version,
        raw.headers,
        raw.body,
        client=raw.client,
        server=raw.server,
        scheme=raw.scheme,
        keep_alive=raw.keep_alive,
        trailers=raw.trailers,
    )
    return sub


def find_mount(
    mounts: list[tuple[str, Any]], request: Request, *, fallback: bool = False
) -> tuple[Any, Any] | None:
    """The mount serving ``request`` as ``(app, sub_request)``, ``(None, redirect)``
    for exactly a mount's prefix, or None when no mount serves it.

    With ``fallback=False`` only prefixed mounts are tried; with ``fallback=True``
    only a root mount (``"/"``). Call the app with :func:`call_mounted` (or
    :func:`acall_mounted` from async code).
    """
    raw = request.raw
    path = raw.path
    for prefix, app in mounts:
        if not prefix:
            if not fallback:
                continue
            rest = path
        elif fallback:
            continue
        elif path.startswith(prefix):
            size = len(prefix)
            if len(path) == size:
                target = prefix + "/" + ("?" + raw.query if raw.query else "")
                return None, RedirectResponse(target, status_code=307)
            if path[size] != "/":
                continue
            rest = path[size:]
        else:
            continue
        raw.route = f"{prefix}/{{path:path}}"
        return app, sub_request(raw, rest)
    return None


def dispatch_mount(
    mounts: list[tuple[str, Any]], request: Request, *, fallback: bool = False
) -> Response | None:
    """The response of the mount serving ``request``, or None when none does."""
    target = find_mount(mounts, request, fallback=fallback)
    if target is None:
        return None
    app, what = target
    if app is None:
        response: Response = what
        return response
    return call_mounted(app, request, what)


def call_mounted(app: Any, request: Request, sub: HTTPRequest) -> Response:
    """The mounted ``app``'s response to ``sub`` (``request`` relative to the mount)."""
    if isinstance(app, Mountable):
        return app.serve_request(Request(sub, request.app))
    return HTTPResponseWrapper(app(sub))


async def acall_mounted(app: Any, request: Request, sub: HTTPRequest) -> Response:
    """:func:`call_mounted` from async code: a mounted app's ``aserve_request`` is
    awaited; other mounted objects are plain and called as they are."""
    method = getattr(app, "aserve_request", None)
    if method is not None:
        response: Response = await method(Request(sub, request.app))
        return response
    return call_mounted(app, request, sub)


class HTTPResponseWrapper(Response):
    """A :class:`Response` around a server-level :class:`HTTPResponse` (from a mounted
    plain application), so the parent's middleware can still read and set headers."""

    __slots__ = ("raw",)

    def __init__(self, raw: HTTPResponse) -> None:
        super().__init__(None, raw.status, None, None, raw.on_complete)
        self.raw = raw
        self.body = raw.body
        for key, value in raw.headers:
            self.headers.append(key.lower(), value)

    @property
    def buffered(self) -> bool:  # type: ignore[override]
        """True when the wrapped response has its whole body in memory."""
        return self.raw.stream is None and self.raw.file is None

    def to_http(self, request: Any = None) -> HTTPResponse:
        """The wrapped response with this object's status, headers, body and background."""
        raw = self.raw
        headers = list(self._headers.raw) if self._headers is not None else []
        return HTTPResponse(
            self.status_code,
            headers,
            self.body,
            stream=raw.stream,
            file=raw.file,
            on_complete=self.background,
        )
