"""The :class:`Request` object handlers and dependencies can ask for.

It wraps the server's :class:`~barq.http.messages.HTTPRequest` and parses lazily:
a handler that never looks at cookies never pays for parsing them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from barq import jsonlib
from barq.datastructures import URL, Address, Headers, QueryParams, State, parse_cookie_header
from barq.http.messages import HTTPRequest

if TYPE_CHECKING:
    from barq.app import Barq
    from barq.routing import Route

__all__ = ["Request"]

_MISSING: Any = object()


class Request:
    """An incoming HTTP request (complete: the body is already read).

    - ``method``, ``url`` (:class:`~barq.datastructures.URL`), ``path`` (decoded),
      ``query_params``, ``headers`` (case-insensitive), ``cookies``
    - ``body`` (bytes) and :meth:`json`
    - ``client``: ``Address(host, port)`` of the peer or ``None``
    - ``path_params``: the converted path parameters of the matched route
    - ``state``: per-request attribute bag (set by middleware/dependencies)
    - ``app``: the application; ``route``: the matched route (or None)
    """

    __slots__ = (
        "_cookies",
        "_headers",
        "_json",
        "_query_params",
        "_state",
        "app",
        "path_params",
        "raw",
        "route",
    )

    def __init__(
        self,
        raw: HTTPRequest,
        app: Barq | None = None,
        path_params: dict[str, Any] | None = None,
    ) -> None:
        self.raw = raw
        self.app = app
        self.path_params: dict[str, Any] = path_params if path_params is not None else {}
        self.route: Route | None = None
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._json: Any = _MISSING
        self._state: State | None = None

    @property
    def method(self) -> str:
        """Upper-case method, e.g. ``"GET"``."""
        return self.raw.method

    @property
    def url(self) -> URL:
        """The full URL (scheme and host from the request, path still encoded in ``raw_path``)."""
        raw = self.raw
        host = raw.header("host")
        if not host:
            if raw.server is not None:
                host = f"{raw.server[0]}:{raw.server[1]}"
            else:
                host = "localhost"
        return URL(raw.scheme, host, raw.path, raw.query)

    @property
    def base_url(self) -> URL:
        """The URL with path ``/`` and no query."""
        return self.url.replace(path="/", query="")

    @property
    def path(self) -> str:
        """The percent-decoded path (``/a b`` for ``/a%20b``)."""
        return self.url.path

    @property
    def query_string(self) -> str:
        """The raw query string (no ``?``)."""
        return self.raw.query

    @property
    def query_params(self) -> QueryParams:
        """Parsed query parameters (a multidict: ``getlist`` for repeated keys)."""
        params = self._query_params
        if params is None:
            params = self._query_params = QueryParams(self.raw.query)
        return params

    @property
    def headers(self) -> Headers:
        """Request headers (case-insensitive; ``getlist`` for repeated ones)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(self.raw.headers, lowercase=True)
        return headers

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies from the ``Cookie`` header(s)."""
        cookies = self._cookies
        if cookies is None:
            values = [v for k, v in self.raw.headers if k == "cookie"]
            cookies = parse_cookie_header("; ".join(values)) if values else {}
            self._cookies = cookies
        return cookies

    @property
    def body(self) -> bytes:
        """The whole request body."""
        return self.raw.body

    def json(self) -> Any:
        """The body parsed as JSON (cached); raises :class:`barq.jsonlib.JSONDecodeError`."""
        if self._json is _MISSING:
            self._json = jsonlib.loads(self.raw.body)
        return self._json

    def _json_or_none(self) -> Any:
        """The parsed JSON body if it was parsed already, else None."""
        return None if self._json is _MISSING else self._json

    @property
    def client(self) -> Address | None:
        """``Address(host, port)`` of the client, or None (Unix socket, tests)."""
        client = self.raw.client
        return Address(client[0], client[1]) if client is not None else None

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-case, without parameters (``""`` if none)."""
        value = self.raw.header("content-type")
        if not value:
            return ""
        return value.split(";", 1)[0].strip().lower()

    @property
    def state(self) -> State:
        """Per-request state: an attribute bag shared by middleware, dependencies and handler."""
        state = self._state
        if state is None:
            state = self._state = State()
        return state

    def url_for(self, name: str, /, **path_params: Any) -> str:
        """The path of the route called ``name`` with ``path_params`` filled in."""
        if self.app is None:
            raise RuntimeError("request.url_for needs the request to belong to an app")
        return self.app.url_path_for(name, **path_params)

    def __repr__(self) -> str:
        return f"<Request {self.raw.method} {self.raw.target}>"
