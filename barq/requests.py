"""The :class:`Request` object handlers and dependencies can ask for.

It wraps the server's :class:`~barq.http.messages.HTTPRequest` and parses lazily:
a handler that never looks at cookies never pays for parsing them.
"""

from __future__ import annotations

import contextlib
from asyncio import events
from collections.abc import AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any

from barq import jsonlib
from barq.datastructures import (
    URL,
    Address,
    FormData,
    Headers,
    QueryParams,
    State,
    parse_cookie_header,
)
from barq.http.errors import ProtocolError
from barq.http.messages import HTTPRequest

if TYPE_CHECKING:
    from barq.app import Barq
    from barq.routing import Route

__all__ = ["Request", "RequestBody"]

_MISSING: Any = object()


class Ready:
    """An awaitable whose result is already there (``await`` gives ``value``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # a generator that never suspends


class JSONObject(dict[str, Any]):
    """A JSON object body: a ``dict`` that ``await`` also accepts (giving itself)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, JSONObject]:
        return self
        yield


class JSONArray(list[Any]):
    """A JSON array body: a ``list`` that ``await`` also accepts (giving itself)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, JSONArray]:
        return self
        yield


class RequestBody(bytes):
    """The request body: ``bytes``, and callable as Starlette's ``body()`` is, so
    FastAPI code's ``await request.body()`` works beside Barq's ``request.body``."""

    __slots__ = ()

    def __call__(self) -> Ready:
        return Ready(bytes(self))


def _in_event_loop() -> bool:
    return events._get_running_loop() is not None


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
        "_body",
        "_cookies",
        "_form",
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
        self._body: RequestBody | None = None
        self._form: FormData | None = None
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
    def body(self) -> RequestBody:
        """The whole request body (``bytes``; ``await request.body()`` works too)."""
        body = self._body
        if body is None:
            with _body_errors():
                body = self._body = RequestBody(self.raw.body)
        return body

    def stream(self) -> BodyChunks:
        """The body in pieces (``for chunk in request.stream()``, or ``async for``
        in ``async def`` code). A handler that calls it and declares no body
        parameter gets the body as it arrives, not collected first: the worker
        reads it from the client while the handler runs (see docs/streaming.md)."""
        return BodyChunks(self)

    def json(self) -> Any:
        """The body parsed as JSON (cached); raises :class:`barq.jsonlib.JSONDecodeError`.

        FastAPI code awaits it (``data = await request.json()``): an object or array
        body is a ``dict`` / ``list`` that can also be awaited (giving itself); a
        scalar body is returned as an awaitable when called from async code."""
        value = self._json
        if value is _MISSING:
            with _body_errors():
                raw_body = self.raw.body
            value = jsonlib.loads(raw_body)
            if type(value) is dict:
                value = JSONObject(value)
            elif type(value) is list:
                value = JSONArray(value)
            self._json = value
        if isinstance(value, JSONObject | JSONArray) or not _in_event_loop():
            return value
        return Ready(value)  # a scalar body, from async code

    def form(self) -> Any:
        """The body parsed as a form (:class:`~barq.datastructures.FormData`, cached;
        an empty one when the body is not a form; ``await request.form()`` gives
        the same). Malformed bodies raise ``HTTPException(400)``."""
        form = self._form
        if form is None:
            from barq.formparsers import parse_form

            content_type = self.raw.header("content-type") or ""
            media = content_type.split(";", 1)[0].strip().lower()
            items: list[tuple[str, Any]] = []
            if media in ("application/x-www-form-urlencoded", "multipart/form-data"):
                with _body_errors():
                    items = list(parse_form(self.raw.iter_body(), content_type))
            form = self._form = FormData(items)
        return form

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


@contextlib.contextmanager
def _body_errors() -> Iterator[None]:
    """A body read while it arrives may fail (the client stalls: 408, too large:
    413, goes away: 400): the same answer as for a body collected first."""
    try:
        yield
    except ProtocolError as exc:
        from barq.exceptions import HTTPException

        raise HTTPException(exc.status, exc.message) from None


class BodyChunks:
    """What :meth:`Request.stream` returns: iterable with ``for`` and ``async for``."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        cached = self._request._body
        if cached is not None:  # read already
            if cached:
                yield bytes(cached)
            return
        with _body_errors():
            yield from self._request.raw.iter_body()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self:
            yield piece
