"""In-process test client: call an application without sockets.

:class:`TestClient` builds :class:`~barq.http.messages.HTTPRequest` objects
directly, calls the app, and wraps the :class:`~barq.http.messages.HTTPResponse`
in an httpx-like :class:`TestResponse`. Streamed bodies are consumed, file bodies
read, and ``on_complete`` callbacks run, as the real server would. Used as a
context manager it runs the app's ``startup()``/``shutdown()`` lifespan hooks.

The client can be shared between threads: its only mutable state, the cookie
jar, is guarded by a lock.
"""

from __future__ import annotations

import base64
import gzip
import http.cookies
import io
import os
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from barq import jsonlib
from barq.concurrency import LoopThread
from barq.datastructures import Headers
from barq.exceptions import WebSocketDisconnect
from barq.http.messages import HTTPRequest, HTTPResponse, WebSocketClosed, WebSocketGone

__all__ = ["TestClient", "TestResponse", "WebSocketDenialResponse", "WebSocketTestSession"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/%:@!$&'()*+,;=-._~?"

FileSpec = Any


class TestResponse:
    """What a :class:`TestClient` call returns (httpx-like)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        raw: HTTPResponse,
        content: bytes,
        request: HTTPRequest,
        url: str,
        history: list[TestResponse],
    ) -> None:
        self.raw = raw
        #: the status code
        self.status_code = raw.status
        #: response headers (case-insensitive; ``headers.getlist("set-cookie")``)
        self.headers = Headers(raw.headers)
        #: the body bytes, decoded when the body is ``Content-Encoding: gzip`` or
        #: ``deflate`` (as httpx does; ``raw_content`` is what was sent)
        self.raw_content = content
        self.content = _decoded(content, self.headers.get("content-encoding"))
        #: the request that produced this response
        self.request = request
        #: the full URL requested
        self.url = url
        #: earlier responses when redirects were followed
        self.history = history
        self.cookies: dict[str, str] = {}
        for line in self.headers.getlist("set-cookie"):
            jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            try:
                jar.load(line)
            except http.cookies.CookieError:
                continue
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value

    @property
    def text(self) -> str:
        """The body decoded with the charset of ``Content-Type`` (default UTF-8)."""
        charset = "utf-8"
        content_type = self.headers.get("content-type") or ""
        for part in content_type.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        return self.content.decode(charset, errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.content)

    @property
    def reason_phrase(self) -> str:
        """``"OK"``, ``"Not Found"``, ..."""
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    @property
    def is_success(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        """True for a redirect status with a ``Location`` header."""
        return self.status_code in _REDIRECTS and "location" in self.headers

    def raise_for_status(self) -> TestResponse:
        """Raise ``AssertionError`` for 4xx/5xx statuses; return self otherwise."""
        if self.status_code >= 400:
            raise AssertionError(
                f"{self.request.method} {self.url} -> {self.status_code}: {self.text[:500]}"
            )
        return self

    def __repr__(self) -> str:
        return f"<TestResponse [{self.status_code}]>"


def _decoded(content: bytes, encoding: str | None) -> bytes:
    if not content or not encoding:
        return content
    try:
        for coding in reversed([c.strip().lower() for c in encoding.split(",")]):
            if coding in ("gzip", "x-gzip"):
                content = gzip.decompress(content)
            elif coding == "deflate":
                try:
                    content = zlib.decompress(content)
                except zlib.error:
                    content = zlib.decompress(content, -zlib.MAX_WBITS)
    except (OSError, EOFError, zlib.error):
        return content  # not what it says it is: keep the bytes as sent
    return content


def _read_body(response: HTTPResponse, head: bool) -> bytes:
    stream = response.stream
    if stream is not None:
        try:
            chunks = [bytes(chunk) for chunk in stream]
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return b"" if head else b"".join(chunks)
    if response.file is not None:
        file = response.file
        if head:
            return b""
        with open(os.fspath(file.path), "rb") as fh:
            fh.seek(file.offset)
            return fh.read() if file.count is None else fh.read(file.count)
    return b"" if head else response.body


def _file_part(value: FileSpec) -> tuple[str | None, bytes, str, dict[str, str]]:
    filename: str | None = None
    content_type = "application/octet-stream"
    extra: dict[str, str] = {}
    content: Any = value
    if isinstance(value, tuple):
        filename = value[0]
        content = value[1]
        if len(value) > 2 and value[2]:
            content_type = value[2]
        if len(value) > 3 and value[3]:
            extra = dict(value[3])
    if hasattr(content, "read"):
        if filename is None:
            name = getattr(content, "name", None)
            filename = os.path.basename(name) if isinstance(name, str) else "upload"
        data = content.read()
    else:
        data = content
    if isinstance(data, str):
        data = data.encode("utf-8")
    if filename is None:
        filename = "upload"
    return filename, bytes(data), content_type, extra


def encode_multipart(
    data: Mapping[str, Any] | None, files: Mapping[str, Any] | Iterable[tuple[str, Any]]
) -> tuple[bytes, str]:
    """Encode form fields and files as ``multipart/form-data``: ``(body, content_type)``.

    A file is a file object, bytes, or a tuple ``(filename, content[, content_type
    [, headers]])``.
    """
    boundary = uuid.uuid4().hex
    out = io.BytesIO()

    def quote_name(name: str) -> str:
        return (
            name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        )

    for key, value in (data or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            out.write(f"--{boundary}\r\n".encode())
            out.write(f'Content-Disposition: form-data; name="{quote_name(key)}"\r\n\r\n'.encode())
            out.write(item if isinstance(item, bytes) else str(item).encode("utf-8"))
            out.write(b"\r\n")
    items = files.items() if isinstance(files, Mapping) else files
    for key, value in items:
        filename, content, content_type, extra = _file_part(value)
        out.write(f"--{boundary}\r\n".encode())
        disposition = f'form-data; name="{quote_name(key)}"'
        if filename is not None:
            disposition += f'; filename="{quote_name(filename)}"'
        out.write(f"Content-Disposition: {disposition}\r\n".encode())
        out.write(f"Content-Type: {content_type}\r\n".encode())
        for hname, hvalue in extra.items():
            out.write(f"{hname}: {hvalue}\r\n".encode("latin-1"))
        out.write(b"\r\n")
        out.write(content)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class CookieJar(MutableMapping[str, str]):
    """A :class:`TestClient`'s cookies, as a mapping of name to value (httpx's
    ``Cookies`` spelling: ``.set(name, value)``, ``.get(name)``)."""

    def __init__(self, store: dict[str, str], lock: threading.Lock) -> None:
        self._store = store
        self._lock = lock

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        """Set cookie ``name`` (``domain`` and ``path`` are accepted and ignored:
        the jar holds the cookies of the one app under test)."""
        self[name] = value

    def __getitem__(self, name: str) -> str:
        with self._lock:
            return self._store[name]

    def __setitem__(self, name: str, value: str) -> None:
        with self._lock:
            self._store[name] = value

    def __delitem__(self, name: str) -> None:
        with self._lock:
            del self._store[name]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._store))

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    def __repr__(self) -> str:
        with self._lock:
            return f"<CookieJar {self._store!r}>"


class TestClient:
    """Call ``app`` in-process with an httpx-like API.

    ``base_url`` sets scheme and host (``Host`` header); ``headers``/``cookies``
    are sent with every request; cookies set by responses are kept (and sent
    back) for the client's lifetime; ``follow_redirects`` (default True) follows
    3xx responses. ``client`` is the peer address the app sees.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        *,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] | None = ("testclient", 50000),
        raise_server_exceptions: bool = True,
    ) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")
        #: sent with every request (a request's own headers replace them); the
        #: defaults are those of FastAPI's TestClient
        self.headers: dict[str, str] = {
            "accept": "*/*",
            "accept-encoding": "gzip, deflate",
            "connection": "keep-alive",
            "user-agent": "testclient",
        }
        self.headers.update({k.lower(): v for k, v in (headers or {}).items()})
        #: an exception the app's handlers did not turn into a response is raised
        #: in the test (after the 500 handler ran); False gives the 500 response
        self.raise_server_exceptions = raise_server_exceptions
        self.follow_redirects = follow_redirects
        self.client = client
        self._cookies: dict[str, str] = dict(cookies or {})
        self._lock = threading.Lock()
        #: where WebSocket sessions run (started on the first websocket_connect)
        self._ws_loop: LoopThread | None = None

    # -- cookies --------------------------------------------------------------

    @property
    def cookies(self) -> CookieJar:
        """The cookie jar (a live mapping: ``client.cookies.set("a", "1")``,
        ``client.cookies["a"]``, ``del client.cookies["a"]``)."""
        return CookieJar(self._cookies, self._lock)

    @cookies.setter
    def cookies(self, value: Mapping[str, str]) -> None:
        with self._lock:
            self._cookies.clear()
            self._cookies.update(value)

    def set_cookie(self, name: str, value: str) -> None:
        """Put a cookie into the jar."""
        with self._lock:
            self._cookies[name] = value

    def clear_cookies(self) -> None:
        """Empty the cookie jar."""
        with self._lock:
            self._cookies.clear()

    def _store_cookies(self, headers: Headers) -> None:
        lines = headers.getlist("set-cookie")
        if not lines:
            return
        now = datetime.now(UTC)
        with self._lock:
            for line in lines:
                jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
                try:
                    jar.load(line)
                except http.cookies.CookieError:
                    continue
                for name, morsel in jar.items():
                    expired = False
                    if morsel["max-age"]:
                        try:
                            expired = int(morsel["max-age"]) <= 0
                        except ValueError:
                            expired = False
                    elif morsel["expires"]:
                        try:
                            expired = parsedate_to_datetime(morsel["expires"]) <= now
                        except (TypeError, ValueError):
                            expired = False
                    if expired:
                        self._cookies.pop(name, None)
                    else:
                        self._cookies[name] = morsel.value

    # -- lifespan ---------------------------------------------------------------

    def __enter__(self) -> TestClient:
        startup = getattr(self.app, "startup", None)
        if startup is not None:
            startup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        shutdown = getattr(self.app, "shutdown", None)
        if shutdown is not None:
            shutdown()

    # -- requests ---------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        follow_redirects: bool | None = None,
        auth: tuple[str, str] | None = None,
    ) -> TestResponse:
        """Send one request; see the module docstring. Returns a :class:`TestResponse`.
        ``auth=(user, password)`` sends HTTP Basic credentials."""
        method = method.upper()
        full = urljoin(self.base_url + "/", url)
        body = b""
        content_type: str | None = None
        if json is not None:
            body = jsonlib.dumps(json)
            content_type = "application/json"
        elif files is not None:
            body, content_type = encode_multipart(data, files)
        elif data is not None:
            body = urlencode(
                [(k, v) for k, vs in data.items() for v in (vs if isinstance(vs, list) else [vs])]
            ).encode()
            content_type = "application/x-www-form-urlencoded"
        elif content is not None:
            body = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        pairs: list[tuple[str, str]] = [(k.lower(), v) for k, v in self.headers.items()]
        if headers is not None:
            items = headers.items() if isinstance(headers, Mapping) else headers
            extra = [(k.lower(), v) for k, v in items]
            names = {k for k, _ in extra}
            pairs = [p for p in pairs if p[0] not in names] + extra
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            pairs = [p for p in pairs if p[0] != "authorization"]
            pairs.append(("authorization", f"Basic {token}"))
        if content_type is not None and not any(k == "content-type" for k, _ in pairs):
            pairs.append(("content-type", content_type))
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        history: list[TestResponse] = []
        while True:
            response = self._send(method, full, params, pairs, cookies, body, history)
            if not (follow and response.is_redirect) or len(history) >= 20:
                return response
            history.append(response)
            full = urljoin(full, response.headers["location"])
            params = None
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, body = "GET", b""
                pairs = [p for p in pairs if p[0] not in ("content-type", "content-length")]

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
        pairs: list[tuple[str, str]],
        cookies: Mapping[str, str] | None,
        body: bytes,
        history: list[TestResponse],
    ) -> TestResponse:
        request = self._make_request(method, url, params, pairs, cookies, body)
        raw = self._call_app(request)
        try:
            content = _read_body(raw, method == "HEAD")
        finally:
            if raw.on_complete is not None:
                raw.on_complete()
        response = TestResponse(raw, content, request, url, list(history))
        self._store_cookies(response.headers)
        return response

    def _call_app(self, request: HTTPRequest) -> HTTPResponse:
        build = getattr(self.app, "build", None)
        if build is not None:
            build()  # freeze the app before its first request, as a server does at start
        respond = getattr(self.app, "respond", None)
        if respond is not None:
            raw: HTTPResponse = respond(request, reraise=self.raise_server_exceptions)
            return raw
        return self.app(request)  # type: ignore[no-any-return]

    def _make_request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
        pairs: list[tuple[str, str]],
        cookies: Mapping[str, str] | None,
        body: bytes,
    ) -> HTTPRequest:
        parts = urlsplit(url)
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        query = quote(parts.query, safe=_QUERY_SAFE) if parts.query else ""
        if params:
            items = params.items() if isinstance(params, Mapping) else params
            flat: list[tuple[str, str]] = []
            for key, value in items:
                for v in value if isinstance(value, list | tuple) else [value]:
                    flat.append((key, _param(v)))
            extra = urlencode(flat)
            query = f"{query}&{extra}" if query else extra
        target = f"{path}?{query}" if query else path
        headers = list(pairs)
        if not any(k == "host" for k, _ in headers):
            headers.insert(0, ("host", parts.netloc or "testserver"))
        jar = dict(self.cookies)  # a request's own cookies= are not kept
        if cookies:
            jar.update(cookies)
        if jar and not any(k == "cookie" for k, _ in headers):
            headers.append(("cookie", "; ".join(f"{k}={v}" for k, v in jar.items())))
        if body or method in ("POST", "PUT", "PATCH"):
            headers.append(("content-length", str(len(body))))
        request = HTTPRequest(
            method,
            target,
            path,
            query,
            "1.1",
            headers,
            body,
            client=self.client,
            server=(parts.hostname or "testserver", parts.port or 80),
            scheme=parts.scheme or "http",
        )
        return request

    # -- WebSockets -----------------------------------------------------------

    def websocket_connect(
        self,
        url: str,
        subprotocols: Iterable[str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> WebSocketTestSession:
        """Open a WebSocket to ``url`` (``/ws`` or ``ws://testserver/ws``):
        ``with client.websocket_connect("/ws") as ws: ws.send_text("hi")``.

        Entering the ``with`` block waits for the endpoint's answer: a refusal
        raises :class:`~barq.websockets.WebSocketDisconnect` (an HTTP answer:
        :class:`WebSocketDenialResponse`, with its ``status_code``). An exception
        in the endpoint is raised in the test (``raise_server_exceptions``).
        A ``receive_*`` that gets nothing within ``timeout`` seconds raises
        TimeoutError instead of hanging the test."""
        full = urljoin(self.base_url + "/", url)
        if full.startswith(("ws://", "wss://")):
            full = "http" + full[2:]
        pairs = [(k.lower(), v) for k, v in self.headers.items()]
        extra = {
            "connection": "Upgrade",
            "upgrade": "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": base64.b64encode(os.urandom(16)).decode("ascii"),
        }
        if subprotocols:
            extra["sec-websocket-protocol"] = ", ".join(subprotocols)
        extra.update({k.lower(): v for k, v in (headers or {}).items()})
        pairs = [p for p in pairs if p[0] not in extra and p[0] != "accept-encoding"]
        pairs.extend(extra.items())
        request = self._make_request("GET", full, params, pairs, cookies, b"")
        raw = self._call_app(request)
        if raw.upgrade is None:
            content = _read_body(raw, False)
            if raw.on_complete is not None:
                raw.on_complete()
            response = TestResponse(raw, content, request, full, [])
            raise WebSocketDenialResponse(response)
        if self._ws_loop is None:
            with self._lock:
                if self._ws_loop is None:
                    self._ws_loop = LoopThread("barq-testclient-websockets")
        return WebSocketTestSession(self, request, raw.upgrade, self._ws_loop.loop, timeout)

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        """``GET url``."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> TestResponse:
        """``HEAD url`` (the body is dropped, as on the wire)."""
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> TestResponse:
        """``OPTIONS url``."""
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        """``POST url`` (``json=``, ``content=``, ``data=``, ``files=``)."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> TestResponse:
        """``PUT url``."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> TestResponse:
        """``PATCH url``."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        """``DELETE url``."""
        return self.request("DELETE", url, **kwargs)


def _param(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


# -- WebSockets ---------------------------------------------------------------------


class WebSocketDenialResponse(WebSocketDisconnect):
    """The app answered a WebSocket handshake with HTTP (``status_code``,
    ``response``): no WebSocket route has the path, a parameter was invalid, a
    dependency raised ``HTTPException``... Also a ``WebSocketDisconnect``."""

    def __init__(self, response: TestResponse) -> None:
        super().__init__(1006, response.text)
        self.response = response
        self.status_code = response.status_code


class _TestTransport:
    """The in-memory :class:`~barq.http.messages.WebSocketTransport` between a
    test (its thread) and the app's session (on the client's loop thread)."""

    def __init__(self, request: HTTPRequest, loop: Any) -> None:
        import asyncio
        import queue

        self._request = request
        self._loop = loop
        self.to_client: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._inbox: list[str | bytes | WebSocketClosed] = []
        self._waiter: asyncio.Future[Any] | None = None
        self.answered = False
        self.closed = False  # the app closed (or refused)
        self.client_closed: WebSocketClosed | None = None
        self.finished = threading.Event()
        self.error: BaseException | None = None

    @property
    def loop(self) -> Any:
        return self._loop

    @property
    def request(self) -> HTTPRequest:
        return self._request

    async def accept(
        self, subprotocol: str | None = None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        if self.answered:
            raise RuntimeError("accept(): the handshake was already answered")
        self.answered = True
        self.to_client.put(("accept", subprotocol, list(headers or [])))

    async def reject(self, response: HTTPResponse) -> None:
        if self.answered:
            raise RuntimeError("reject(): the handshake was already answered")
        self.answered = self.closed = True
        self.to_client.put(("reject", response))

    async def receive(self) -> str | bytes | WebSocketClosed:
        if self._inbox:
            return self._inbox.pop(0)
        if self.client_closed is not None:
            return self.client_closed
        waiter = self._waiter = self._loop.create_future()
        try:
            result: str | bytes | WebSocketClosed = await waiter
            return result
        finally:
            self._waiter = None

    async def send(self, message: str | bytes) -> None:
        if self.closed or self.client_closed is not None:
            closed = self.client_closed or WebSocketClosed(1006)
            raise WebSocketGone(closed.code, closed.reason)
        self.to_client.put(("message", message))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.answered:
            await self.reject(HTTPResponse(403, [], b"Forbidden"))
            return
        if not self.closed:
            self.closed = True
            self.to_client.put(("close", code, reason))

    def session_finished(self, error: BaseException | None) -> None:
        self.error = error
        self.to_client.put(("finished", error))
        self.finished.set()

    # called on the loop thread for the test's thread
    def deliver(self, item: str | bytes | WebSocketClosed) -> None:
        if isinstance(item, WebSocketClosed):
            if self.client_closed is None:
                self.client_closed = item
        else:
            self._inbox.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(self._inbox.pop(0) if self._inbox else self.client_closed)


class WebSocketTestSession:
    """A test's side of one WebSocket (see :meth:`TestClient.websocket_connect`)."""

    __test__ = False

    def __init__(
        self,
        client: TestClient,
        request: HTTPRequest,
        start: Any,
        loop: Any,
        timeout: float,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._transport = _TestTransport(request, loop)
        self._loop = loop
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[str, str]] = []
        self._closed = False  # the app closed: receive raises WebSocketDisconnect
        self._close: tuple[int, str] | None = None
        self._entered = False
        loop.call_soon_threadsafe(start, self._transport)

    def __enter__(self) -> WebSocketTestSession:
        self._entered = True
        kind, *rest = self._next()
        if kind == "accept":
            self.accepted_subprotocol, self.extra_headers = rest
            return self
        self._raise_error()
        if kind == "reject":
            response: HTTPResponse = rest[0]
            content = _read_body(response, False)
            raise WebSocketDenialResponse(
                TestResponse(response, content, self._transport.request, "", [])
            )
        if kind == "close":
            raise WebSocketDisconnect(rest[0], rest[1])
        raise RuntimeError(f"the WebSocket endpoint ended without answering the handshake ({kind})")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._closed:
            self.close(1000)
        self._transport.finished.wait(self._timeout)
        if exc is None:
            self._raise_error()

    def _raise_error(self) -> None:
        error = self._transport.error
        if error is not None and self._client.raise_server_exceptions:
            self._transport.error = None
            raise error

    def _next(self) -> tuple[Any, ...]:
        import queue

        try:
            item = self._transport.to_client.get(timeout=self._timeout)
        except queue.Empty:
            raise TimeoutError(
                f"the WebSocket endpoint sent nothing within {self._timeout} s"
            ) from None
        if item[0] == "finished":
            self._transport.to_client.put(item)  # seen again by later calls
            self._raise_error()
            return ("close", 1000, "") if self._close is None else ("close", *self._close)
        return item

    # -- sending ------------------------------------------------------------------

    def _deliver(self, item: str | bytes | WebSocketClosed) -> None:
        self._loop.call_soon_threadsafe(self._transport.deliver, item)

    def send_text(self, data: str) -> None:
        self._deliver(str(data))

    def send_bytes(self, data: bytes) -> None:
        self._deliver(bytes(data))

    def send_json(self, data: Any, mode: str = "text") -> None:
        encoded = jsonlib.dumps(data)
        self._deliver(encoded.decode("utf-8") if mode == "text" else encoded)

    def send(self, message: Mapping[str, Any]) -> None:
        """Starlette's form: ``{"type": "websocket.receive", "text": ...}``."""
        if message.get("type") == "websocket.disconnect":
            self.close(message.get("code", 1000), message.get("reason") or "")
        elif message.get("text") is not None:
            self.send_text(message["text"])
        else:
            self.send_bytes(message.get("bytes") or b"")

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close from the client's side: the endpoint's next receive raises
        ``WebSocketDisconnect(code)``."""
        self._closed = True
        self._deliver(WebSocketClosed(code, reason or ""))

    # -- receiving ----------------------------------------------------------------

    def receive(self) -> dict[str, Any]:
        """The next message as Starlette's TestClient gives it:
        ``{"type": "websocket.send", "text": ...}`` or ``{"type": "websocket.close", ...}``."""
        kind, *rest = self._next()
        if kind == "message":
            data = rest[0]
            key = "text" if isinstance(data, str) else "bytes"
            return {"type": "websocket.send", key: data}
        if kind == "close":
            # An endpoint that failed closes with 1011 and then reports why:
            # the test sees the endpoint's exception, as with Starlette's client.
            self._transport.finished.wait(1.0)
            self._raise_error()
            self._close = (rest[0], rest[1])
            self._transport.to_client.put(("close", rest[0], rest[1]))  # sticky
            return {"type": "websocket.close", "code": rest[0], "reason": rest[1]}
        raise RuntimeError(f"unexpected WebSocket event {kind!r}")

    def _message(self) -> str | bytes:
        message = self.receive()
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(message["code"], message.get("reason"))
        data: str | bytes = message["text"] if "text" in message else message["bytes"]
        return data

    def receive_text(self) -> str:
        message = self._message()
        if not isinstance(message, str):
            raise TypeError(f"expected a text message, got binary {message!r:.60}")
        return message

    def receive_bytes(self) -> bytes:
        message = self._message()
        if not isinstance(message, bytes):
            raise TypeError(f"expected a binary message, got text {message!r:.60}")
        return message

    def receive_json(self, mode: str = "text") -> Any:
        message = self._message()
        return jsonlib.loads(message.encode("utf-8") if isinstance(message, str) else message)
