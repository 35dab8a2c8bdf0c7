"""The two objects that cross the server/application boundary.

The server turns bytes into an :class:`HTTPRequest` (always complete: head *and*
body), calls the application with it on a worker thread, and turns the
:class:`HTTPResponse` it gets back into bytes. Nothing here knows about sockets or
threads; the framework (``barq.app``) and ``barq.testing`` build and read these
objects directly.

An *application* is any callable ``app(request: HTTPRequest) -> HTTPResponse``.
It may also define ``startup()`` and ``shutdown()``; the server calls them once,
before serving the first request and after the last one.

A WebSocket handshake is answered with an :class:`HTTPResponse` whose
``upgrade`` is set: the server then takes the connection off its HTTP workers
and calls ``upgrade(transport)`` with a :class:`WebSocketTransport`, whose
coroutines the application awaits on ``transport.loop``. The transport decides
nothing: the application accepts (101) or rejects (an HTTP answer) the
handshake, and exchanges whole messages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import asyncio

    from barq.http.parser import BodyStream

__all__ = [
    "Application",
    "FileBody",
    "HTTPRequest",
    "HTTPResponse",
    "WebSocketClosed",
    "WebSocketGone",
    "WebSocketTransport",
]


class HTTPRequest:
    """A complete HTTP request as parsed from the wire.

    Attributes (all set by the parser; the framework treats them as read-only
    except ``route``):

    - ``method``: upper-case method token, e.g. ``"GET"``.
    - ``target``: the request-target exactly as sent (``/a%20b?x=1``,
      ``http://host/a``, ``*``).
    - ``path``: the path component, still percent-encoded (``/a%20b``). For an
      absolute-form target it is the path part of the URL; for ``*`` it is ``"*"``.
    - ``query``: the raw query string without the ``?`` (``""`` when absent).
    - ``http_version``: ``"1.1"`` or ``"1.0"``.
    - ``headers``: list of ``(name, value)`` with names lower-cased and both
      decoded as latin-1, in wire order, duplicates kept.
    - ``body``: the whole body (chunked coding already removed). A large body
      may have been spooled to a temporary file by the server: then
      ``body_file`` is that file and ``body`` reads it (once, on first use);
      :meth:`iter_body` reads either form piece by piece.
    - ``client`` / ``server``: ``(host, port)`` of the peer / local socket, or
      ``None`` for Unix sockets and in-process tests.
    - ``scheme``: ``"http"`` (or ``"https"`` when a trusted proxy says so).
    - ``keep_alive``: whether the client allows the connection to stay open.
    - ``route``: set by the framework to the matched route template
      (``"/items/{item_id}"``) so metrics can group by route; ``None`` otherwise.
    - ``trailers``: trailer fields of a chunked body, same shape as ``headers``.
    - ``body_stream``: for a route that reads its body as it arrives (the
      application said so, see ``Application.streams_body``), the parser's
      :class:`~barq.http.parser.BodyStream`; ``body`` and :meth:`iter_body`
      then read from it (``body`` reads it all, once). None otherwise.
    """

    __slots__ = (
        "_body",
        "body_file",
        "body_stream",
        "client",
        "headers",
        "http_version",
        "keep_alive",
        "method",
        "path",
        "query",
        "route",
        "scheme",
        "server",
        "target",
        "trailers",
    )

    def __init__(
        self,
        method: str,
        target: str,
        path: str,
        query: str,
        http_version: str,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        *,
        client: tuple[str, int] | None = None,
        server: tuple[str, int] | None = None,
        scheme: str = "http",
        keep_alive: bool = True,
        trailers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.http_version = http_version
        self.headers = headers
        self._body: bytes | None = body
        self.body_file: IO[bytes] | None = None
        self.client = client
        self.server = server
        self.scheme = scheme
        self.keep_alive = keep_alive
        self.route: str | None = None
        self.trailers = trailers
        self.body_stream: BodyStream | None = None

    @property
    def body(self) -> bytes:
        """The whole body (read from :attr:`body_file` on first use when spooled)."""
        stream = self.body_stream
        if stream is not None:
            self.body_stream = None
            self._body = b"".join(stream)
        body = self._body
        if body is None:
            file = self.body_file
            if file is None:
                return b""
            file.seek(0)
            body = self._body = file.read()
        return body

    @body.setter
    def body(self, value: bytes) -> None:
        self._body = value
        self.body_file = None

    def set_body_file(self, file: IO[bytes]) -> None:
        """Make ``file`` (a spooled body) the request's body."""
        self._body = None
        self.body_file = file

    @property
    def body_size(self) -> int:
        """The body's length in bytes (without reading a spooled body)."""
        body = self._body
        if body is not None:
            return len(body)
        file = self.body_file
        return os.fstat(file.fileno()).st_size if file is not None else 0

    def iter_body(self, size: int = 65536) -> Iterator[bytes]:
        """The body in pieces of at most ``size`` bytes (without loading a spooled
        body into memory). A streamed body is read as it arrives, once."""
        stream = self.body_stream
        if stream is not None:
            self.body_stream = None
            self._body = b""
            for piece in stream:
                for start in range(0, len(piece), size):
                    yield piece[start : start + size]
            return
        file = self.body_file
        if file is None or self._body is not None:
            body = self.body
            for start in range(0, len(body), size):
                yield body[start : start + size]
            return
        file.seek(0)
        while piece := file.read(size):
            yield piece

    def close_body(self) -> None:
        """Release a spooled body's file (the server calls it after the response)."""
        file = self.body_file
        if file is not None:
            self.body_file = None
            if self._body is None:
                self._body = b""
            file.close()

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (case-insensitive), or ``default``."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def __repr__(self) -> str:
        return f"<HTTPRequest {self.method} {self.target} HTTP/{self.http_version}>"


@dataclass(slots=True)
class FileBody:
    """A response body read from a file, sent with ``socket.sendfile`` when possible.

    ``path`` is opened by the server on the worker thread; ``offset``/``count``
    select a byte range (``count=None`` means to the end of the file).
    """

    path: str | os.PathLike[str]
    offset: int = 0
    count: int | None = None


class HTTPResponse:
    """What an application returns.

    - ``status``: the status code.
    - ``headers``: list of ``(name, value)`` str pairs. The server adds
      ``Date``, ``Server``, ``Content-Length`` / ``Transfer-Encoding`` and
      ``Connection`` itself; an application-supplied ``content-length`` is only
      used for streamed bodies (to send them without chunked coding).
    - exactly one body form: ``body`` (bytes), ``stream`` (an iterable of
      bytes, sent with chunked coding; its ``close()`` is called when the
      response ends, also when the client went away), or ``file`` (a
      :class:`FileBody`).
    - ``on_complete``: called on the worker thread after the response has been
      sent (or failed to send), e.g. to run background tasks.
    - ``upgrade``: for a WebSocket handshake, what starts the session: called
      with the :class:`WebSocketTransport` on the transport's event-loop thread
      once the server took the connection over (it must not block); status,
      headers and body are then not sent.
    """

    __slots__ = ("body", "file", "headers", "on_complete", "status", "stream", "upgrade")

    def __init__(
        self,
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        *,
        stream: Iterable[bytes] | Iterator[bytes] | None = None,
        file: FileBody | None = None,
        on_complete: Callable[[], Any] | None = None,
        upgrade: Callable[[WebSocketTransport], None] | None = None,
    ) -> None:
        self.status = status
        self.upgrade = upgrade
        self.headers = headers if headers is not None else []
        self.body = body
        self.stream = stream
        self.file = file
        self.on_complete = on_complete

    def __repr__(self) -> str:
        return f"<HTTPResponse {self.status}>"


@runtime_checkable
class Application(Protocol):
    """The interface the server calls. ``startup``/``shutdown`` are optional, and
    so is ``streams_body(head) -> bool``: asked when a request's head is complete
    and a body follows, True makes the server call the application at once with
    ``request.body_stream`` to read the body from as it arrives (on the worker,
    which then waits for the client: within the body timeout)."""

    def __call__(self, request: HTTPRequest, /) -> HTTPResponse: ...


# -- WebSockets -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebSocketClosed:
    """What :meth:`WebSocketTransport.receive` gives once the peer closed: the
    close code it sent (1005 when it sent none, 1006 when the connection was
    lost without a close frame) and its reason."""

    code: int
    reason: str = ""


class WebSocketGone(Exception):
    """Raised by :meth:`WebSocketTransport.send` once the connection is closed."""

    def __init__(self, code: int = 1006, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class WebSocketTransport(Protocol):
    """One upgraded connection, as the server (or ``TestClient``) offers it.
    Every coroutine runs on :attr:`loop`; messages are whole (text or binary)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop whose thread owns the connection."""
        ...

    @property
    def request(self) -> HTTPRequest:
        """The handshake request."""
        ...

    async def accept(
        self, subprotocol: str | None = None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        """Answer the handshake with 101 Switching Protocols."""
        ...

    async def reject(self, response: HTTPResponse) -> None:
        """Answer the handshake with an HTTP response instead, then close."""
        ...

    async def receive(self) -> str | bytes | WebSocketClosed:
        """The next message, or :class:`WebSocketClosed` once the peer closed."""
        ...

    async def send(self, message: str | bytes) -> None:
        """Send one message (waits while the peer reads slowly); raises
        :class:`WebSocketGone` once the connection is closed."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (idempotent)."""
        ...
