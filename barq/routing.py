"""Routes and routers.

A :class:`Route` is one endpoint: its path template, methods, handler, the
handler's compiled plan (:mod:`barq.signatures`), its body plan
(:mod:`barq.bodies`) and its :class:`RouteOptions` — the one declaration of
what a route can be configured with (status code, response model, tags,
OpenAPI metadata...). :meth:`Route.handle` runs a matched request: body →
parameters and dependencies (:mod:`barq.dependencies`) → handler → response.

A :class:`Router` (alias :data:`APIRouter`) groups routes under a prefix with
shared options (tags, dependencies, responses) and can be included into an app
or another router; the path matching itself is :mod:`barq.radix`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import logging
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, get_args, get_origin
from urllib.parse import quote

import pydantic
from pydantic import TypeAdapter

from barq import jsonlib
from barq.background import chain_background
from barq.bodies import BodyPlan, make_body_plan
from barq.concurrency import never_suspends, run_direct, run_sync
from barq.context import RequestContext
from barq.dependencies import solve, solve_async, teardown, teardown_async
from barq.exceptions import (
    BarqError,
    RequestValidationError,
    ResponseValidationError,
    validation_errors,
)
from barq.http.semantics import METHODS, body_allowed
from barq.params import Dependency
from barq.radix import RadixTree, compile_path
from barq.requests import Request
from barq.responses import JSONResponse, Response
from barq.signatures import CallPlan, compile_plan, with_overrides
from barq.typeinfo import UnresolvedAnnotation, return_hint

logger = logging.getLogger("barq.routing")

__all__ = [
    "DEFAULT",
    "HTTP_METHODS",
    "APIRoute",
    "APIRouter",
    "Route",
    "RouteDecorators",
    "RouteOptions",
    "Router",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The methods a route may declare (the ones Barq implements).
HTTP_METHODS = METHODS


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: "use the return annotation" (the default of ``response_model=``)
DEFAULT: Any = _Default()


@dataclasses.dataclass(frozen=True)
class RouteOptions:
    """Everything a route can be configured with, declared once.

    The route decorators, :class:`Route` and :meth:`Router.add_api_route` take
    these as keyword arguments; routers and ``include_router`` combine them
    with :meth:`under`. Sequences are copied into fresh lists (never shared).
    """

    #: the model the return value is validated and serialised with
    #: (``DEFAULT``: the return annotation; ``None``: no validation)
    response_model: Any = DEFAULT
    #: the success status (None: 200)
    status_code: int | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    #: ``Depends(...)`` markers run before the handler's own parameters
    dependencies: list[Dependency] = dataclasses.field(default_factory=list)
    summary: str | None = None
    #: the OpenAPI description (None: the handler's docstring)
    description: str | None = None
    response_description: str = "Successful Response"
    #: extra documented responses: ``{status: {"description": ..., "model": ...}}``
    responses: dict[int | str, Any] = dataclasses.field(default_factory=dict)
    deprecated: bool | None = None
    operation_id: str | None = None
    #: the route's name (None: the handler's ``__name__``), for ``url_path_for``
    name: str | None = None
    include_in_schema: bool = True
    #: the class plain return values are wrapped in
    response_class: type[Response] = JSONResponse
    response_model_exclude_unset: bool = False
    response_model_exclude_none: bool = False
    response_model_by_alias: bool = True
    #: fields of the response model to send only / to leave out (sets or dicts)
    response_model_include: Any = None
    response_model_exclude: Any = None
    response_model_exclude_defaults: bool = False
    #: merged into this operation of the OpenAPI document, over what Barq wrote
    openapi_extra: dict[str, Any] | None = None
    #: routes documented as this operation's callbacks (``callback_router.routes``)
    callbacks: list[Any] | None = None
    #: ``f(route) -> str``: the operation id (FastAPI's option; None: the router's
    #: or app's, else ``{name}{path}_{method}``)
    generate_unique_id_function: Callable[[Any], str] | None = None
    #: ``response_class`` was given for this route (a router's or app's
    #: ``default_response_class`` does not replace it)
    explicit_response_class: bool = False
    #: hand the request body to the handler as it arrives (``request.stream()``,
    #: and ``request.form()`` parsing while it arrives); None: when the handler
    #: calls ``.stream()`` and declares no body parameters
    stream_request_body: bool | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "tags", list(self.tags or ()))
        set_(self, "dependencies", list(self.dependencies or ()))
        set_(self, "responses", dict(self.responses or {}))
        for name in ("response_model_include", "response_model_exclude"):
            value = getattr(self, name)
            if isinstance(value, list | tuple | frozenset):  # FastAPI takes lists too
                set_(self, name, set(value))

    @classmethod
    def from_kwargs(cls, where: str, options: Mapping[str, Any]) -> RouteOptions:
        """Build from decorator keyword arguments; unknown names raise BarqError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise BarqError(
                f"{where}: unknown route option(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        return cls(**options)

    def under(
        self,
        *,
        tags: Sequence[str] = (),
        dependencies: Sequence[Dependency] = (),
        responses: Mapping[int | str, Any] | None = None,
        include_in_schema: bool = True,
        default_response_class: type[Response] | None = None,
        generate_unique_id_function: Callable[[Any], str] | None = None,
    ) -> RouteOptions:
        """These options inside a router: its tags first, its dependencies run first,
        its responses overridden by the route's, hidden if either is hidden; its
        ``default_response_class`` and ``generate_unique_id_function`` where the
        route has none of its own."""
        extra: dict[str, Any] = {}
        if default_response_class is not None and not self.explicit_response_class:
            extra["response_class"] = default_response_class
            extra["explicit_response_class"] = True  # the innermost default wins
        if generate_unique_id_function is not None and self.generate_unique_id_function is None:
            extra["generate_unique_id_function"] = generate_unique_id_function
        return dataclasses.replace(
            self,
            tags=[*tags, *(t for t in self.tags if t not in tags)],
            dependencies=[*dependencies, *self.dependencies],
            responses={**(responses or {}), **self.responses},
            include_in_schema=self.include_in_schema and include_in_schema,
            **extra,
        )


def _default_status(response_class: type[Response]) -> int:
    """200, or the status a response class answers with by default (a
    ``RedirectResponse`` route answers 307), as FastAPI reads it."""
    try:
        param = inspect.signature(response_class.__init__).parameters.get("status_code")
    except (TypeError, ValueError):
        return 200
    default = param.default if param is not None else None
    return default if isinstance(default, int) and not isinstance(default, bool) else 200


def _stream_kind(response_class: type[Response]) -> str:
    """How an endpoint that yields is sent, from its ``response_class``."""
    if getattr(response_class, "media_type", None) == "text/event-stream":
        return "sse"
    if issubclass(response_class, JSONResponse):
        return "jsonl"
    return "raw"


_ITERABLES = {
    collections.abc.Iterable,
    collections.abc.Iterator,
    collections.abc.Generator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
}


def _stream_item_type(hint: Any) -> Any:
    """``Item`` from ``AsyncIterable[Item]``, ``Iterator[Item]``, ``Generator[Item, ...]``;
    None when the annotation says nothing about the items (or they are events)."""
    if hint is None or get_origin(hint) not in _ITERABLES:
        return None
    args = get_args(hint)
    if not args or args[0] is Any:
        return None
    item = args[0]
    if getattr(item, "__name__", "") == "ServerSentEvent":
        return None
    return item


def _mapped(
    items: Any, encode: Callable[[Any], bytes] | None, generators: list[Any]
) -> _MappedIterator:
    """``encode(item)`` for each item (the item itself without ``encode``);
    closing it closes ``items`` (a generator's ``finally`` runs when the client
    goes away), then finishes the request's generator ``dependencies``."""
    return _MappedIterator(iter(items), encode, generators)


class _MappedIterator:
    __slots__ = ("_encode", "_generators", "_items")

    def __init__(
        self, items: Any, encode: Callable[[Any], Any] | None, generators: list[Any]
    ) -> None:
        self._items = items
        self._encode = encode
        self._generators = generators

    def __iter__(self) -> _MappedIterator:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self._items)
            return item if self._encode is None else self._encode(item)
        except StopIteration:
            self._finish(None)
            raise
        except BaseException as exc:
            self._finish(exc)
            raise

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        generators, self._generators = self._generators, []
        if not generators:
            return
        if any(hasattr(g, "__anext__") for g in generators):
            error = run_sync(teardown_async(generators, exc))
        else:
            error = teardown(generators, exc)
        if error is not None and error is not exc:
            logger.error("error finishing the dependencies of a stream", exc_info=error)


def _streams_body(explicit: bool | None, body: Any, endpoint: Any, where: str) -> bool:
    """Whether a route reads its body as it arrives: as ``stream_request_body``
    says, else when the handler declares no body parameter and its code calls
    ``.stream()`` (``request.stream()``)."""
    if explicit is not None:
        if explicit and body is not None:
            raise BarqError(
                f"{where}: stream_request_body=True, but the handler declares body "
                "parameters (Body/Form/File), which need the whole body first"
            )
        return explicit
    if body is not None:
        return False
    code = getattr(inspect.unwrap(endpoint), "__code__", None)
    pending = [code] if code is not None else []
    while pending:  # the function and the code nested in it (comprehensions)
        current = pending.pop()
        if "stream" in current.co_names:
            return True
        pending.extend(c for c in current.co_consts if isinstance(c, type(current)))
    return False


def _is_response_type(tp: Any) -> bool:
    if isinstance(tp, type) and issubclass(tp, Response):
        return True
    if get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_response_type(a) for a in get_args(tp))
    return False


def _model_adapter(model: Any, where: str) -> TypeAdapter[Any] | None:
    if model is None or model is type(None) or model is Any or model in (dict, list):
        return None
    if _is_response_type(model):
        return None
    try:
        return TypeAdapter(model)
    except (pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise BarqError(
            f"{where}: the response model {model!r} is not a type pydantic can validate "
            f"({exc}); pass response_model=None to skip response validation"
        ) from exc


#: What :meth:`Route._compile` sets (read from a pending route, they compile it).
_COMPILED = frozenset(
    {
        "plan", "body", "stream", "stream_item_adapter", "response_model",
        "response_adapter", "_model_type", "_response_class", "_json", "_no_body",
        "_fast", "is_async", "_endpoint_async", "_direct", "streams_body",
    }
)  # fmt: skip


class Route:
    """One endpoint: path template, methods, handler, compiled plan and options.

    ``options`` is the route's :class:`RouteOptions`; its fields can also be read
    as attributes of the route (``route.tags``, ``route.summary``...). A few are
    resolved here: :attr:`name` (the handler's name by default),
    :attr:`description` (its docstring), :attr:`status_code` (200) and
    :attr:`response_model` (the return annotation). :attr:`plan` and
    :attr:`body` describe the inputs for OpenAPI generation.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] = ("GET",),
        localns: Mapping[str, Any] | None = None,
        options: RouteOptions | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(endpoint):
            raise BarqError(f"route {path!r}: endpoint {endpoint!r} is not callable")
        if options is None:
            options = RouteOptions.from_kwargs(f"route {path!r}", kwargs)
        elif kwargs:
            options = dataclasses.replace(options, **kwargs)
        methods = [m.upper() for m in methods]
        for m in methods:
            if m not in HTTP_METHODS and not m.isalpha():
                raise BarqError(f"route {path!r}: invalid method {m!r}")
        if not methods:
            raise BarqError(f"route {path!r}: no methods given")
        for dep in options.dependencies:
            if not isinstance(dep, Dependency):
                raise BarqError(
                    f"route {path!r}: dependencies=[...] must hold Depends(...) markers, "
                    f"got {dep!r}"
                )
        # Interned: every request stores this string on its HTTPRequest (``route``)
        # and metrics compare it by identity; interned strings are immortal on
        # free-threaded builds, so worker threads never contend on its refcount.
        self.path = sys.intern(path)
        self.endpoint = endpoint
        self.methods: frozenset[str] = frozenset(methods)
        self.options = options
        self.localns = localns
        self.name: str = options.name or str(getattr(endpoint, "__name__", "endpoint"))
        self.description = (
            options.description if options.description is not None else inspect.getdoc(endpoint)
        )
        self.status_code = (
            options.status_code
            if options.status_code is not None
            else _default_status(options.response_class)
        )

        #: a path that does not start with "/" (an OpenAPI runtime expression such
        #: as ``{$callback_url}/events``, or a webhook's name) is documented, never served
        self.documentation_only = not path.startswith("/")
        names = [] if self.documentation_only else compile_path(path)[1]
        self.param_names: tuple[str, ...] = tuple(names)
        self._where = f"route {'/'.join(sorted(self.methods))} {path} ({self.name})"
        #: why the route could not be compiled yet (a name its annotations use is
        #: defined later in the module): compiled again by :meth:`resolve`, which
        #: the app calls when it starts; None once compiled
        self.pending: UnresolvedAnnotation | None = None
        try:
            self._compile()
        except UnresolvedAnnotation as exc:
            self.pending = exc
        #: plans with ``app.dependency_overrides`` applied, by the overrides' items
        #: (a test sets them; written by whichever worker meets a new set first:
        #: a dict store, and a plan compiled twice is the same plan)
        self._overridden: dict[tuple[Any, ...], CallPlan] = {}

    def _compile(self) -> None:
        """Analyse the endpoint (:meth:`_analyse`); raises :class:`UnresolvedAnnotation`
        when a name its annotations (or its models') use does not exist yet."""
        try:
            self._analyse()
        except UnresolvedAnnotation:
            raise
        except pydantic.PydanticUndefinedAnnotation as exc:  # a model names a later class
            raise UnresolvedAnnotation(str(exc)) from exc
        except pydantic.PydanticUserError as exc:
            if exc.code != "class-not-fully-defined":
                raise
            raise UnresolvedAnnotation(str(exc)) from exc

    def _analyse(self) -> None:
        """The endpoint's plan, body, streaming kind and response model."""
        where = self._where
        endpoint, localns, options = self.endpoint, self.localns, self.options
        names = self.param_names
        try:
            self.plan: CallPlan = compile_plan(
                endpoint, frozenset(names), options.dependencies, localns=localns
            )
            body_fields = [f for f in self.plan.all_fields() if f.location == "body"]
            self.body: BodyPlan | None = make_body_plan(body_fields)
        except UnresolvedAnnotation:
            raise
        except BarqError as exc:
            if isinstance(exc.__cause__, (pydantic.PydanticUndefinedAnnotation, NameError)):
                raise UnresolvedAnnotation(str(exc)) from exc
            raise BarqError(f"{where}: {exc}") from exc

        #: the endpoint ``yield``\s its body: "jsonl" (JSON Lines, the default),
        #: "sse" (``response_class=EventSourceResponse``) or "raw" (another
        #: streaming response class, given the items as they are)
        self.stream: str | None = None
        #: validates and serialises each yielded item (from ``Iterable[Item]``)
        self.stream_item_adapter: TypeAdapter[Any] | None = None
        response_model = options.response_model
        if self.plan.is_generator or self.plan.is_async_generator:
            self.stream = _stream_kind(options.response_class)
            item = _stream_item_type(return_hint(endpoint, localns))
            if item is not None and self.stream != "raw":
                self.stream_item_adapter = _model_adapter(item, where)
            response_model = None
        elif response_model is DEFAULT:
            response_model = return_hint(endpoint, localns)
        if response_model is not None and _is_response_type(response_model):
            response_model = None
        self.response_model = response_model
        self.response_adapter = _model_adapter(response_model, where)
        self._model_type = response_model if isinstance(response_model, type) else None
        self._response_class = options.response_class
        self._json = issubclass(options.response_class, JSONResponse)
        self._no_body = not body_allowed(self.status_code)
        self._fast = self.plan.trivial and self.body is None and self.stream is None
        #: the server hands the body over as it arrives (``request.stream()``)
        self.streams_body = _streams_body(options.stream_request_body, self.body, endpoint, where)
        #: the handler or one of its dependencies is ``async def``: the request runs
        #: as a coroutine on the worker thread's event loop (:mod:`barq.concurrency`)
        self.is_async = self.plan.needs_async
        self._endpoint_async = self.plan.is_async
        #: an ``async def`` endpoint that awaits nothing, below no async
        #: dependency: the request runs the plain path and the coroutine in one
        #: step (:func:`~barq.concurrency.run_direct`), no task and no event loop
        self._direct = (
            self.plan.is_async
            and not self.plan.is_async_generator
            and not any(node.plan.needs_async for node in self.plan.dependencies)
            and never_suspends(endpoint)
        )

    def resolve(self) -> None:
        """Compile a route whose annotations named something not defined yet at
        registration; raises :class:`~barq.exceptions.BarqError` if it still
        cannot be resolved (called when the app starts)."""
        if self.pending is None:
            return
        try:
            self._compile()
        except UnresolvedAnnotation as exc:
            raise BarqError(f"{self._where}: {exc}") from exc
        self.pending = None

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not attributes: what a pending route
        # compiles on first use, and the options' fields.
        if name in _COMPILED and self.__dict__.get("pending") is not None:
            self.resolve()
            return getattr(self, name)
        if name.startswith("_") or name == "options":
            raise AttributeError(name)
        try:
            return getattr(self.options, name)
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}"
            ) from None

    def copy_with(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Dependency] = (),
        responses: Mapping[int | str, Any] | None = None,
        include_in_schema: bool = True,
        default_response_class: type[Response] | None = None,
        generate_unique_id_function: Callable[[Any], str] | None = None,
    ) -> Route:
        """A new route under ``prefix``, with a router's options around its own."""
        return type(self)(
            prefix + self.path,
            self.endpoint,
            methods=sorted(self.methods),
            localns=self.localns,
            options=self.options.under(
                tags=tags,
                dependencies=dependencies,
                responses=responses,
                include_in_schema=include_in_schema,
                default_response_class=default_response_class,
                generate_unique_id_function=generate_unique_id_function,
            ),
        )

    # -- request handling -------------------------------------------------

    def handle(self, request: Request, params: dict[str, str]) -> Response:
        """Run the handler for ``request`` and return the response (exceptions propagate).

        An async route is run to completion on this thread's event loop; code that
        is already running in that loop awaits :meth:`handle_async` instead.
        """
        if self._fast:
            if self.is_async:
                if self._direct:
                    return self.render(run_direct(self.endpoint()), None)
                return self.render(run_sync(self.endpoint()), None)
            return self.render(self.endpoint(), None)
        plan = self.plan
        overrides = getattr(request.app, "dependency_overrides", None)
        if overrides:
            plan = self.plan_with(overrides)
        direct = self._direct and plan is self.plan
        if plan.needs_async and not direct:
            return run_sync(self.handle_async(request, params, plan))
        ctx = RequestContext(request, params)
        try:
            if self.body is not None:
                self.body.read(ctx)
            kwargs = solve(plan, ctx)
            if ctx.errors or kwargs is None:
                raise RequestValidationError(ctx.errors, body=request._json_or_none())
            result = self.endpoint(**kwargs)
            if direct:
                result = run_direct(result)
            if ctx.function_generators:  # Depends(..., scope="function"): finish now
                done, ctx.function_generators = ctx.function_generators, []
                error = teardown(done, None)
                if error is not None:
                    raise error
            response = self.render(result, ctx)
        except BaseException as exc:
            if ctx.function_generators:
                ctx.generators.extend(ctx.function_generators)
            if ctx.generators:
                final = teardown(ctx.generators, exc)
                if final is not None and final is not exc:
                    raise final
            raise
        if ctx.generators:
            error = teardown(ctx.generators, None)
            if error is not None:
                raise error
        return response

    def plan_with(self, overrides: Mapping[Any, Callable[..., Any]]) -> CallPlan:
        """This route's plan with ``overrides`` applied (compiled once per set)."""
        try:
            key = tuple(overrides.items())
            cached = self._overridden.get(key)
        except TypeError:  # an unhashable override: compile it each time
            return with_overrides(self.plan, overrides, frozenset(self.param_names))
        if cached is None:
            if len(self._overridden) > 64:
                self._overridden = {}
            cached = with_overrides(self.plan, overrides, frozenset(self.param_names))
            self._overridden[key] = cached
        return cached

    async def handle_async(
        self, request: Request, params: dict[str, str], plan: CallPlan | None = None
    ) -> Response:
        """:meth:`handle` as a coroutine: async dependencies and the handler are
        awaited, plain ones called inline."""
        if self._fast:
            result = self.endpoint()
            if self._endpoint_async:
                result = await result
            return self.render(result, None)
        if plan is None:
            plan = self.plan
            overrides = getattr(request.app, "dependency_overrides", None)
            if overrides:
                plan = self.plan_with(overrides)
        ctx = RequestContext(request, params)
        try:
            if self.body is not None:
                self.body.read(ctx)
            kwargs = await solve_async(plan, ctx) if plan.needs_async else solve(plan, ctx)
            if ctx.errors or kwargs is None:
                raise RequestValidationError(ctx.errors, body=request._json_or_none())
            result = self.endpoint(**kwargs)
            if self._endpoint_async:
                result = await result
            if ctx.function_generators:  # Depends(..., scope="function"): finish now
                done, ctx.function_generators = ctx.function_generators, []
                error = await teardown_async(done, None)
                if error is not None:
                    raise error
            response = self.render(result, ctx)
        except BaseException as exc:
            if ctx.function_generators:
                ctx.generators.extend(ctx.function_generators)
            if ctx.generators:
                final = await teardown_async(ctx.generators, exc)
                if final is not None and final is not exc:
                    raise final
            raise
        if ctx.generators:
            error = await teardown_async(ctx.generators, None)
            if error is not None:
                raise error
        return response

    def render(self, result: Any, ctx: RequestContext | None) -> Response:
        """Turn a handler's return value into a :class:`Response`."""
        if self.stream is not None:
            return self._stream_response(result, ctx)
        sub = ctx.response if ctx is not None else None
        if isinstance(result, Response):
            return merge_sub_response(result, sub) if sub is not None else result
        status = self.status_code
        if sub is not None and sub.status_code:
            status = sub.status_code
        response_class = self._response_class
        if self._json:
            body = b"" if self._no_body and result is None else self.serialize(result)
            response = response_class.__new__(response_class)
            response.status_code = status
            response.media_type = response.media_type_default
            response.body = body
            response._headers = None
            response.background = None
        else:
            response = response_class(result, status_code=status)
        return merge_sub_response(response, sub) if sub is not None else response

    def _stream_response(self, items: Any, ctx: RequestContext | None) -> Response:
        """The streamed response of an endpoint that yields (see :attr:`stream`)."""
        from barq.streaming import AsyncToSync, StreamingResponse

        sub = ctx.response if ctx is not None else None
        status = sub.status_code if sub is not None and sub.status_code else self.status_code
        source = AsyncToSync(items) if hasattr(items, "__anext__") else items
        # generator dependencies stay open while the body streams: the stream
        # finishes them when it ends (or the client goes away)
        pending: list[Any] = []
        if ctx is not None and ctx.generators:
            pending, ctx.generators = ctx.generators, []
        response: Response
        if self.stream == "raw":
            response = self._response_class(_mapped(source, None, pending), status_code=status)
        elif self.stream == "sse":
            from barq.sse import EventSourceResponse

            response = EventSourceResponse(
                _mapped(source, self._sse_event, pending),
                status_code=status,
                headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
            )
        else:
            response = StreamingResponse(
                _mapped(source, self._json_line, pending),
                status_code=status,
                media_type="application/jsonl",
            )
        return merge_sub_response(response, sub) if sub is not None else response

    def _item_json(self, item: Any) -> bytes:
        adapter = self.stream_item_adapter
        if adapter is not None:
            try:
                item = adapter.validate_python(item, from_attributes=True)
            except pydantic.ValidationError as exc:
                raise ResponseValidationError(
                    validation_errors(exc, ("response",)), endpoint=str(self.name)
                ) from None
            return adapter.dump_json(item)
        return jsonlib.dumps(item)

    def _json_line(self, item: Any) -> bytes:
        return self._item_json(item) + b"\n"

    def _sse_event(self, item: Any) -> bytes:
        from barq.sse import ServerSentEvent, format_sse_event

        if not isinstance(item, ServerSentEvent):
            return format_sse_event(data_str=self._item_json(item).decode("utf-8"))
        if item.raw_data is not None:
            data: str | None = item.raw_data
        elif item.data is not None:
            data = jsonlib.dumps(item.data).decode("utf-8")
        else:
            data = None
        return format_sse_event(
            data_str=data, event=item.event, id=item.id, retry=item.retry, comment=item.comment
        )

    def serialize(self, result: Any) -> bytes:
        """Validate ``result`` against the response model (if any) and encode it as JSON."""
        adapter = self.response_adapter
        if adapter is None:
            return jsonlib.dumps(result)
        if self._model_type is None or type(result) is not self._model_type:
            try:
                result = adapter.validate_python(result, from_attributes=True)
            except pydantic.ValidationError as exc:
                raise ResponseValidationError(
                    validation_errors(exc, ("response",)), endpoint=str(self.name)
                ) from None
        options = self.options
        return adapter.dump_json(
            result,
            include=options.response_model_include,
            exclude=options.response_model_exclude,
            exclude_unset=options.response_model_exclude_unset,
            exclude_defaults=options.response_model_exclude_defaults,
            exclude_none=options.response_model_exclude_none,
            by_alias=options.response_model_by_alias,
        )

    def url_path(self, **params: Any) -> str:
        """This route's path with ``params`` filled in (percent-encoded)."""
        missing = [n for n in self.param_names if n not in params]
        if missing:
            raise BarqError(f"route {self.name!r} needs path parameters {missing}")
        path = self.path
        for key, value in params.items():
            text = value.value if hasattr(value, "value") else value
            path = path.replace(f"{{{key}:path}}", quote(str(text), safe="/"))
            path = path.replace(f"{{{key}}}", quote(str(text), safe=""))
        return path

    def __repr__(self) -> str:
        return f"<Route {','.join(sorted(self.methods))} {self.path} -> {self.name}>"


def merge_sub_response(final: Response, sub: Response | None) -> Response:
    """Copy headers, cookies and background set on an injected ``Response`` into ``final``."""
    if sub is None:
        return final
    if sub._headers is not None:
        for key, value in sub._headers.raw:
            if key == "set-cookie":
                final.headers.append(key, value)
            else:
                final.headers[key] = value
    if sub.background is not None:
        # the returned response's own background runs first, then the injected tasks
        final.background = chain_background(final.background, sub.background)
    return final


# ---------------------------------------------------------------------------
# routers


def _caller_locals(depth: int = 2) -> dict[str, Any] | None:
    """Local names of the scope defining a decorated handler (None at module level).

    They let string annotations (``from __future__ import annotations``) name
    classes and functions defined inside a function, e.g. in tests or factories.
    """
    frame: types.FrameType | None = sys._getframe(depth)
    while frame is not None and frame.f_globals.get("__name__") in (__name__, "barq.app"):
        frame = frame.f_back
    if frame is None or frame.f_locals is frame.f_globals:
        return None
    return dict(frame.f_locals)


class RouteDecorators:
    """The route decorators shared by :class:`Router` and :class:`~barq.app.Barq`.

    Subclasses provide ``add_api_route(path, endpoint, *, methods, **options)``.
    The options of every decorator are the fields of :class:`RouteOptions`
    (``response_model``, ``status_code``, ``tags``, ``dependencies``,
    ``summary``, ``description``, ``name``, ``include_in_schema``,
    ``response_class``, ``deprecated``, ``responses``, ``operation_id``, ...).
    """

    def add_api_route(
        self, path: str, endpoint: Callable[..., Any], *, methods: Sequence[str], **options: Any
    ) -> Route:
        raise NotImplementedError

    def add_api_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[Any] | None = None,
        localns: Mapping[str, Any] | None = None,
    ) -> Route:
        raise NotImplementedError

    def websocket(
        self, path: str, name: str | None = None, *, dependencies: Sequence[Any] | None = None
    ) -> Callable[[F], F]:
        """Decorator: register a WebSocket endpoint at ``path`` (see :mod:`barq.websockets`)."""

        def decorator(func: F) -> F:
            self.add_api_websocket_route(
                path, func, name, dependencies=dependencies, localns=_caller_locals()
            )
            return func

        return decorator

    def add_websocket_route(
        self, path: str, endpoint: Callable[..., Any], name: str | None = None
    ) -> Route:
        """Starlette's spelling of :meth:`add_api_websocket_route`."""
        return self.add_api_websocket_route(path, endpoint, name)

    def route(
        self, path: str, methods: Sequence[str] = ("GET",), **options: Any
    ) -> Callable[[F], F]:
        """Decorator: register the function for ``methods`` at ``path``."""

        def decorator(func: F) -> F:
            options.setdefault("localns", _caller_locals())
            self.add_api_route(path, func, methods=methods, **options)
            return func

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``GET`` route (``HEAD`` is answered automatically)."""
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``POST`` route."""
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``PUT`` route."""
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``PATCH`` route."""
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``DELETE`` route."""
        return self.route(path, ["DELETE"], **options)

    def head(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for an explicit ``HEAD`` route."""
        return self.route(path, ["HEAD"], **options)

    def options(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for an ``OPTIONS`` route."""
        return self.route(path, ["OPTIONS"], **options)


def _check_prefix(prefix: str, what: str) -> None:
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise BarqError(f"{what} {prefix!r} must start with '/' and not end with '/'")


class Router(RouteDecorators):
    """A group of routes with a shared prefix, tags and dependencies (like FastAPI's
    ``APIRouter``). Include it with ``app.include_router(router)``.

    Decorators: :meth:`get`, :meth:`post`, :meth:`put`, :meth:`patch`,
    :meth:`delete`, :meth:`head`, :meth:`options` and :meth:`route`; their
    keyword options are the fields of :class:`RouteOptions`.
    """

    def __init__(
        self,
        prefix: str = "",
        *,
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        include_in_schema: bool = True,
        responses: dict[int | str, Any] | None = None,
        default_response_class: type[Response] | None = None,
        generate_unique_id_function: Callable[[Any], str] | None = None,
    ) -> None:
        _check_prefix(prefix, "router prefix")
        self.prefix = prefix
        #: the response class of routes that name none (FastAPI's option)
        self.default_response_class = default_response_class
        #: ``f(route) -> str`` for the operation ids of routes that have none
        self.generate_unique_id_function = generate_unique_id_function
        self.tags: list[str] = list(tags or [])
        self.dependencies: list[Any] = list(dependencies or [])
        self.include_in_schema = include_in_schema
        self.responses = dict(responses or {})
        self.routes: list[Route] = []
        self.tree: RadixTree[Route] = RadixTree()
        self.frozen = False

    def _check_open(self) -> None:
        if self.frozen:
            raise RuntimeError(
                "the application is already serving (frozen): add routes before startup"
            )

    def add_route(self, route: Route) -> Route:
        """Register an already built :class:`Route` (its path is used as is)."""
        self._check_open()
        if not route.documentation_only:
            self.tree.insert(route.path, sorted(route.methods), route)
        self.routes.append(route)
        return route

    def add_api_route(
        self, path: str, endpoint: Callable[..., Any], *, methods: Sequence[str], **options: Any
    ) -> Route:
        """Register ``endpoint`` for ``methods`` at ``self.prefix + path``."""
        self._check_open()
        localns = options.pop("localns", None)
        full = self.prefix + path
        if "response_class" in options:
            options["explicit_response_class"] = True
        own = RouteOptions.from_kwargs(f"route {full!r}", options)
        route = Route(
            full,
            endpoint,
            methods=methods,
            localns=localns,
            options=own.under(
                tags=self.tags,
                dependencies=self.dependencies,
                responses=self.responses,
                include_in_schema=self.include_in_schema,
                default_response_class=self.default_response_class,
                generate_unique_id_function=self.generate_unique_id_function,
            ),
        )
        return self.add_route(route)

    def add_api_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[Any] | None = None,
        localns: Mapping[str, Any] | None = None,
    ) -> Route:
        """Register the WebSocket ``endpoint`` at ``self.prefix + path``."""
        self._check_open()
        from barq.websockets import WebSocketRoute

        full = self.prefix + path
        own = RouteOptions.from_kwargs(
            f"WebSocket route {full!r}", {"name": name, "dependencies": list(dependencies or ())}
        )
        route = WebSocketRoute(
            full,
            endpoint,
            localns=localns,
            options=own.under(tags=self.tags, dependencies=self.dependencies),
        )
        return self.add_route(route)

    def include_router(
        self,
        router: Router,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        responses: Mapping[int | str, Any] | None = None,
        include_in_schema: bool = True,
        default_response_class: type[Response] | None = None,
        generate_unique_id_function: Callable[[Any], str] | None = None,
    ) -> None:
        """Copy ``router``'s routes into this one under ``prefix`` (plus this router's
        own prefix), adding ``tags`` and running ``dependencies`` (then this router's)
        before each route's own; ``responses`` documents extra responses for each
        (a route's own win); ``default_response_class`` and
        ``generate_unique_id_function`` apply where the routes have none."""
        self._check_open()
        if router is self:
            raise BarqError("a router cannot include itself")
        _check_prefix(prefix, "include prefix")
        for route in router.routes:
            self.add_route(
                route.copy_with(
                    prefix=self.prefix + prefix,
                    tags=[*self.tags, *(tags or [])],
                    dependencies=[*self.dependencies, *(dependencies or [])],
                    responses={**self.responses, **(responses or {})},
                    include_in_schema=include_in_schema and self.include_in_schema,
                    default_response_class=default_response_class or self.default_response_class,
                    generate_unique_id_function=(
                        generate_unique_id_function or self.generate_unique_id_function
                    ),
                )
            )

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` with ``params`` filled in."""
        for route in self.routes:
            if route.name == name and set(route.param_names) <= set(params):
                return route.url_path(**params)
        raise BarqError(f"no route named {name!r} with parameters {sorted(params)}")


#: FastAPI-compatible name for :class:`Router`.
APIRouter = Router
#: FastAPI's name for a route (``from barq.routing import APIRoute``)
APIRoute = Route
