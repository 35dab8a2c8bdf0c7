"""Per-request solving state, and the parameters injected from it.

A :class:`RequestContext` lives for one request while its route runs: the
request, its raw path parameters, the parsed inputs (read lazily, once), the
dependency cache, collected validation errors, the generator dependencies
waiting for their teardown and the injected ``Response``.

:data:`SPECIAL_PARAMS` is the one table of parameter types Barq fills from it
instead of from the request data: a handler or dependency that declares
``request: Request``, ``response: Response`` or ``tasks: BackgroundTasks`` (or
a subclass) gets the request's object.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from barq.background import BackgroundTasks, chain_background
from barq.datastructures import QueryParams
from barq.requests import Request
from barq.responses import Response

if TYPE_CHECKING:
    from barq.http.messages import HTTPRequest

__all__ = ["SPECIAL_PARAMS", "RequestContext", "SpecialFactory"]


class RequestContext:
    """Per-request state while solving: parsed inputs, dependency cache, cleanups."""

    __slots__ = (
        "_cookies",
        "_headers",
        "_query",
        "body_values",
        "cache",
        "errors",
        "function_generators",
        "generators",
        "path_params",
        "raw",
        "request",
        "response",
    )

    def __init__(self, request: Request, path_params: dict[str, str]) -> None:
        self.request = request
        self.raw: HTTPRequest = request.raw
        self.path_params = path_params
        #: validated body fields by alias (filled by the route's body plan)
        self.body_values: dict[str, Any] = {}
        #: dependency results by callable (``use_cache=True``)
        self.cache: dict[Any, Any] = {}
        #: FastAPI-shaped validation errors collected so far
        self.errors: list[dict[str, Any]] = []
        #: entered generator dependencies (and upload closers), torn down in reverse
        self.generators: list[Generator[Any, Any, Any]] = []
        #: those of ``Depends(..., scope="function")``, finished when the handler returns
        self.function_generators: list[Any] = []
        self.response: Response | None = None
        self._query: QueryParams | None = None
        self._headers: dict[str, list[str]] | None = None
        self._cookies: dict[str, str] | None = None

    def query(self) -> QueryParams:
        """The parsed query string (shared with ``request.query_params``)."""
        query = self._query
        if query is None:
            query = self._query = self.request.query_params
        return query

    def headers(self) -> dict[str, list[str]]:
        """Header name -> all values."""
        headers = self._headers
        if headers is None:
            headers = {}
            for key, value in self.raw.headers:
                headers.setdefault(key, []).append(value)
            self._headers = headers
        return headers

    def cookies(self) -> dict[str, str]:
        """The request cookies."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = self.request.cookies
        return cookies

    def sub_response(self) -> Response:
        """The response object injected into handlers that ask for ``Response``."""
        response = self.response
        if response is None:
            response = self.response = Response()
            response.status_code = 0  # "not set": the route's status code is used
        return response

    def background_tasks(self) -> BackgroundTasks:
        """The request's :class:`BackgroundTasks`, run after the response is sent."""
        tasks = self.cache.get(BackgroundTasks)
        if tasks is None:
            tasks = self.cache[BackgroundTasks] = BackgroundTasks()
            sub = self.sub_response()
            sub.background = chain_background(sub.background, tasks)
        assert isinstance(tasks, BackgroundTasks)
        return tasks


#: ``factory(ctx) -> value`` for a special parameter
SpecialFactory = Callable[[RequestContext], Any]

#: Parameter types filled from the request context (a subclass matches too).
SPECIAL_PARAMS: Mapping[type, SpecialFactory] = {
    Request: lambda ctx: ctx.request,
    Response: RequestContext.sub_response,
    BackgroundTasks: RequestContext.background_tasks,
}
