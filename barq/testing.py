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
from barq.datastructures import Headers
from barq.http.messages import HTTPRequest, HTTPResponse

__all__ = ["TestClient", "TestResponse"]

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
        build = getattr(self.app, "build", None)
        if build is not None:
            build()  # freeze the app before its first request, as a server does at start
        respond = getattr(self.app, "respond", None)
        if respond is not None:
            raw = respond(request, reraise=self.raise_server_exceptions)
        else:
            raw = self.app(request)
        try:
            content = _read_body(raw, method == "HEAD")
        finally:
            if raw.on_complete is not None:
                raw.on_complete()
        response = TestResponse(raw, content, request, url, list(history))
        self._store_cookies(response.headers)
        return response

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
