"""The :class:`Barq` application object.

A ``Barq`` instance *is* a server application: ``app(request: HTTPRequest) ->
HTTPResponse``, plus ``startup()``/``shutdown()`` which the server calls once.
``startup()`` runs the lifespan hooks and then :meth:`Barq.build` freezes the app
(routes, middleware and exception handlers can no longer change), so worker
threads share it without locks. The server always starts an app before its
workers exist; ``TestClient`` builds it before its first request.

One request, as the server hands it over: :meth:`Barq.__call__` wraps the
:class:`~barq.http.messages.HTTPRequest` in a :class:`~barq.requests.Request`,
runs the middleware chain, finds the route (:mod:`barq.radix`) or mount,
runs it (:meth:`barq.routing.Route.handle`), answers exceptions with the
registered handlers, and returns ``response.to_http()``.
"""

from __future__ import annotations

import contextlib
import html
import inspect
import logging
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from barq.concurrency import LoopThread, run_sync
from barq.datastructures import State
from barq.exceptions import BarqError, HTTPException, RequestValidationError, clip_input
from barq.http.messages import HTTPRequest, HTTPResponse
from barq.http.semantics import body_allowed
from barq.middleware.base import (
    BaseHTTPMiddleware,
    CallNext,
    DispatchFunction,
    Middleware,
    acall,
)
from barq.mounting import acall_mounted, add_mount, call_mounted, find_mount
from barq.requests import Request
from barq.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from barq.routing import Route, RouteDecorators, Router
from barq.websockets import WEBSOCKET, WebSocket, WebSocketRoute, handshake_error, start_session

__all__ = ["Barq", "ExceptionHandler"]

logger = logging.getLogger("barq.app")

F = TypeVar("F", bound=Callable[..., Any])
#: ``handler(request, exc) -> Response``
ExceptionHandler = Callable[[Request, Any], Response]
Lifespan = Callable[["Barq"], Any]


def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    """Default handler: ``{"detail": ...}`` with the exception's status and headers."""
    status = exc.status_code
    if not body_allowed(status):
        return Response(status_code=status, headers=exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=status, headers=exc.headers)


def request_validation_exception_handler(request: Request, exc: RequestValidationError) -> Response:
    """Default handler: 422 with ``{"detail": [errors]}`` (FastAPI's shape).

    An error's ``input`` echoes what the client sent; one nested too deeply to
    serialise is shown cut at :data:`~barq.exceptions.INPUT_DEPTH` levels.
    """
    try:
        return JSONResponse({"detail": exc.errors()}, status_code=422)
    except (TypeError, ValueError, RecursionError):
        errors = [{**err, "input": clip_input(err.get("input"))} for err in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)


class Barq(RouteDecorators):
    """A Barq application.

    ::

        app = Barq()

        @app.get("/items/{item_id}")
        def read_item(item_id: int, q: str | None = None) -> dict:
            return {"id": item_id, "q": q}

    Options: ``debug`` (tracebacks in 500 responses), ``dependencies`` (run for
    every route), ``lifespan`` (a generator function or context-manager factory
    taking the app), ``on_startup``/``on_shutdown`` hook lists, ``middleware``
    (list of :class:`~barq.middleware.Middleware`), ``exception_handlers``
    (``{ExcType or status: handler}``), ``redirect_slashes`` (307 to the path with/
    without a trailing slash when only that one exists), OpenAPI metadata
    (``title``, ``version``, ``description``, ``openapi_tags``; ``openapi_url``,
    ``docs_url`` and ``redoc_url`` serve the document, Swagger UI and ReDoc,
    ``None`` turns one off; ``swagger_ui_parameters`` configures Swagger UI) and
    ``max_upload_size`` (bytes; larger form/upload bodies get 413),
    ``strict_content_type`` (FastAPI's option: a body without a ``Content-Type``
    is not read as JSON; False reads it as JSON) and ``reject_unsupported_media_type``
    (Barq's stricter answer: a body of the wrong type for the endpoint gets 415
    naming the expected type, instead of FastAPI's 422). Other apps and
    :class:`~barq.staticfiles.StaticFiles` are attached with :meth:`mount`.
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        title: str = "Barq",
        version: str = "0.1.0",
        description: str = "",
        dependencies: Sequence[Any] | None = None,
        lifespan: Lifespan | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
        redirect_slashes: bool = True,
        openapi_url: str | None = "/openapi.json",
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        swagger_ui_parameters: Mapping[str, Any] | None = None,
        swagger_ui_oauth2_redirect_url: str | None = None,
        swagger_ui_init_oauth: Mapping[str, Any] | None = None,
        openapi_tags: Sequence[Mapping[str, Any]] | None = None,
        max_upload_size: int | None = None,
        strict_content_type: bool = True,
        reject_unsupported_media_type: bool = False,
        summary: str | None = None,
        servers: Sequence[Mapping[str, Any]] | None = None,
        root_path: str = "",
        default_response_class: type[Response] | None = None,
        generate_unique_id_function: Callable[[Any], str] | None = None,
        terms_of_service: str | None = None,
        contact: Mapping[str, Any] | None = None,
        license_info: Mapping[str, Any] | None = None,
        separate_input_output_schemas: bool = True,
    ) -> None:
        self.debug = debug
        self.title = title
        self.version = version
        self.description = description
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        #: Swagger UI options for the ``docs_url`` page (e.g. ``{"syntaxHighlight": False}``)
        self.swagger_ui_parameters = dict(swagger_ui_parameters or {})
        #: where Swagger UI's OAuth2 login returns (served with the docs page; by
        #: default ``{docs_url}/oauth2-redirect``, ``/docs/oauth2-redirect`` without docs)
        self.swagger_ui_oauth2_redirect_url: str = swagger_ui_oauth2_redirect_url or (
            (docs_url or "/docs").rstrip("/") + "/oauth2-redirect"
        )
        #: ``ui.initOAuth`` options for the Authorize dialog (e.g. ``{"clientId": ...}``)
        self.swagger_ui_init_oauth = dict(swagger_ui_init_oauth) if swagger_ui_init_oauth else None
        #: tag descriptions for the OpenAPI document (``[{"name": ..., "description": ...}]``)
        self.openapi_tags = [dict(t) for t in openapi_tags] if openapi_tags else None
        #: the generated OpenAPI document, cached by :meth:`openapi`
        self.openapi_schema: dict[str, Any] | None = None
        #: webhooks the app sends, documented under ``webhooks`` (never served):
        #: ``@app.webhooks.post("new-subscription")`` on a function whose
        #: parameters describe the body you send
        self.webhooks = Router()
        #: largest form/upload body (bytes) accepted by Form()/File() routes (413 beyond)
        self.max_upload_size = max_upload_size
        #: a body without Content-Type is not JSON (FastAPI's ``strict_content_type``)
        self.strict_content_type = strict_content_type
        #: a body of another media type than the endpoint reads gets 415, not 422
        self.reject_unsupported_media_type = reject_unsupported_media_type
        #: ``(prefix, app)`` pairs added by :meth:`mount`, longest prefix first
        self.mounts: list[tuple[str, Any]] = []
        self.redirect_slashes = redirect_slashes
        self.router = Router(
            dependencies=dependencies,
            default_response_class=default_response_class,
            generate_unique_id_function=generate_unique_id_function,
        )
        #: OpenAPI ``info`` extras and ``servers``
        self.summary = summary
        self.terms_of_service = terms_of_service
        self.contact = dict(contact) if contact else None
        self.license_info = dict(license_info) if license_info else None
        #: a model whose input and output schemas differ is documented twice
        #: (``Item-Input`` / ``Item-Output``); False: once, as input
        self.separate_input_output_schemas = separate_input_output_schemas
        self.servers = [dict(s) for s in servers] if servers else []
        #: the path prefix a proxy strips before the app (``/api/v1``): listed as
        #: the document's server (unless ``servers`` says otherwise) and used for
        #: the URL the docs page loads the document from
        self.root_path = root_path.rstrip("/")
        #: ``{dependency: replacement}``, applied on each request (for tests:
        #: ``app.dependency_overrides[get_db] = fake_db``, then ``.clear()``)
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        #: shared application state (``app.state.db = ...``), see :class:`State`
        self.state = State()
        self.lifespan = lifespan
        self.startup_handlers: list[Callable[[], Any]] = list(on_startup or [])
        self.shutdown_handlers: list[Callable[[], Any]] = list(on_shutdown or [])
        self.user_middleware: list[Middleware] = list(middleware or [])
        self.exception_handlers: dict[Any, ExceptionHandler] = {
            HTTPException: http_exception_handler,
            RequestValidationError: request_validation_exception_handler,
        }
        for key, handler in (exception_handlers or {}).items():
            self.add_exception_handler(key, handler)
        self._stack: CallNext | None = None
        #: the app has WebSocket routes (set by build(): only then are
        #: requests checked for an ``Upgrade: websocket`` handshake)
        self._websockets = False
        #: some route reads its body as it arrives (set by build())
        self._streaming = False
        self._build_lock = threading.Lock()
        self._handler_cache: dict[type, ExceptionHandler | None] = {}
        self._lifespan_cm: Any = None
        self._loop_thread: LoopThread | None = None
        self._started = False

    # -- registration -------------------------------------------------------

    @property
    def routes(self) -> list[Route]:
        """Every registered route (including those from included routers)."""
        return self.router.routes

    @property
    def frozen(self) -> bool:
        """True once the app has started serving: no more routes or middleware."""
        return self._stack is not None

    def _check_open(self, what: str) -> None:
        if self._stack is not None:
            raise RuntimeError(
                f"cannot {what}: the application is already serving (it was frozen by "
                "startup() or its first request); register everything before that"
            )

    def add_api_route(
        self, path: str, endpoint: Callable[..., Any], *, methods: Sequence[str], **options: Any
    ) -> Route:
        """Register ``endpoint`` for ``methods`` at ``path`` (see :class:`~barq.routing.Route`)."""
        self._check_open("add a route")
        return self.router.add_api_route(path, endpoint, methods=methods, **options)

    def add_api_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[Any] | None = None,
        localns: Mapping[str, Any] | None = None,
    ) -> Route:
        """Register the WebSocket ``endpoint`` at ``path`` (see :mod:`barq.websockets`)."""
        self._check_open("add a route")
        return self.router.add_api_websocket_route(
            path, endpoint, name, dependencies=dependencies, localns=localns
        )

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
        """Add every route of ``router`` under ``prefix`` (see :meth:`Router.include_router`)."""
        self._check_open("include a router")
        self.router.include_router(
            router,
            prefix=prefix,
            tags=tags,
            dependencies=dependencies,
            responses=responses,
            include_in_schema=include_in_schema,
            default_response_class=default_response_class,
            generate_unique_id_function=generate_unique_id_function,
        )

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` with its path parameters filled in."""
        return self.router.url_path_for(name, **params)

    def mount(self, path: str, app: Any, *, name: str | None = None) -> None:
        """Serve everything under ``path`` with ``app`` (e.g. :class:`~barq.staticfiles.StaticFiles`
        or another :class:`Barq`); see :mod:`barq.mounting`. The mount takes precedence
        over routes for its prefix and gets the rest of the path."""
        self._check_open("mount an application")
        add_mount(self.mounts, path, app, name)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this app's routes (built once, then cached)."""
        if self.openapi_schema is None:
            from barq.openapi import get_openapi

            servers = self.servers or ([{"url": self.root_path}] if self.root_path else None)
            self.openapi_schema = get_openapi(
                title=self.title,
                version=self.version,
                description=self.description,
                summary=self.summary,
                routes=self.routes,
                tags=self.openapi_tags,
                servers=servers,
                terms_of_service=self.terms_of_service,
                contact=self.contact,
                license_info=self.license_info,
                separate_input_output_schemas=self.separate_input_output_schemas,
                webhooks=self.webhooks.routes,
            )
        return self.openapi_schema

    def add_exception_handler(
        self, key: type[BaseException] | int, handler: ExceptionHandler
    ) -> None:
        """Answer exceptions of type ``key`` (or its subclasses; most specific wins) —
        or :class:`HTTPException` with status ``key`` when it is an int — with
        ``handler(request, exc) -> Response``. A handler for ``Exception`` or ``500``
        replaces the generic 500 answer."""
        self._check_open("add an exception handler")
        if not (isinstance(key, int) or (isinstance(key, type) and issubclass(key, BaseException))):
            raise BarqError(
                f"exception handler key must be an exception class or status, not {key!r}"
            )
        self.exception_handlers[key] = handler

    def exception_handler(self, key: type[BaseException] | int) -> Callable[[F], F]:
        """Decorator form of :meth:`add_exception_handler`."""

        def decorator(func: F) -> F:
            self.add_exception_handler(key, func)
            return func

        return decorator

    def add_middleware(self, cls: Callable[..., CallNext], **options: Any) -> None:
        """Wrap the app in middleware ``cls(app, **options)``; the last added runs first."""
        self._check_open("add middleware")
        self.user_middleware.insert(0, Middleware(cls, **options))

    def middleware(self, kind: str = "http") -> Callable[[DispatchFunction], DispatchFunction]:
        """Decorator for a ``(request, call_next) -> response`` function middleware."""
        if kind != "http":
            raise BarqError(f"only 'http' middleware exists, not {kind!r}")

        def decorator(func: DispatchFunction) -> DispatchFunction:
            self.add_middleware(BaseHTTPMiddleware, dispatch=func)
            return func

        return decorator

    def on_event(self, event: str) -> Callable[[F], F]:
        """Decorator: run the function at ``"startup"`` or ``"shutdown"``.

        Deprecated as in FastAPI (a ``DeprecationWarning``): ``lifespan=`` says
        both halves in one place; ``on_startup=`` / ``on_shutdown=`` lists stay."""
        if event not in ("startup", "shutdown"):
            raise BarqError(f"unknown event {event!r}: use 'startup' or 'shutdown'")
        warnings.warn(
            "on_event is deprecated, use lifespan event handlers instead "
            "(Barq(lifespan=...): a generator function or async context manager)",
            DeprecationWarning,
            stacklevel=2,
        )

        def decorator(func: F) -> F:
            self._check_open("add a lifespan hook")
            hooks = self.startup_handlers if event == "startup" else self.shutdown_handlers
            hooks.append(func)
            return func

        return decorator

    def on_startup(self, func: F) -> F:
        """Decorator: run ``func()`` once when the server starts."""
        self._check_open("add a lifespan hook")
        self.startup_handlers.append(func)
        return func

    def on_shutdown(self, func: F) -> F:
        """Decorator: run ``func()`` once when the server stops."""
        self._check_open("add a lifespan hook")
        self.shutdown_handlers.append(func)
        return func

    # -- lifespan -----------------------------------------------------------

    def startup(self) -> None:
        """Run startup hooks, enter the lifespan, then freeze the app (called by the server).

        Exceptions propagate: the server refuses to start.
        """
        if self._started:
            return
        for hook in self.startup_handlers:
            self._run_hook(hook)
        for _, mounted in self.mounts:
            mounted_startup = getattr(mounted, "startup", None)
            if mounted_startup is not None:
                mounted_startup()
        if self.lifespan is not None:
            cm = self._lifespan_context()
            if isinstance(cm, contextlib.AbstractAsyncContextManager):
                value = self._lifespan_loop().run(cm.__aenter__())
            else:
                value = cm.__enter__()
            self._lifespan_cm = cm
            if isinstance(value, Mapping):
                self.state.update(value)
        self._started = True
        self.build()

    def shutdown(self) -> None:
        """Leave the lifespan and run shutdown hooks (called by the server once)."""
        if not self._started:
            return
        self._started = False
        errors: list[BaseException] = []
        cm, self._lifespan_cm = self._lifespan_cm, None
        if cm is not None:
            try:
                if isinstance(cm, contextlib.AbstractAsyncContextManager):
                    self._lifespan_loop().run(cm.__aexit__(None, None, None))
                else:
                    cm.__exit__(None, None, None)
            except Exception as exc:
                logger.exception("error in the lifespan shutdown")
                errors.append(exc)
        for hook in self.shutdown_handlers:
            try:
                self._run_hook(hook)
            except Exception as exc:
                logger.exception("error in shutdown hook %r", hook)
                errors.append(exc)
        for _, mounted in self.mounts:
            mounted_shutdown = getattr(mounted, "shutdown", None)
            if mounted_shutdown is not None:
                try:
                    mounted_shutdown()
                except Exception as exc:
                    logger.exception("error in the shutdown of mounted app %r", mounted)
                    errors.append(exc)
        loop, self._loop_thread = self._loop_thread, None
        if loop is not None:
            loop.stop()
        if errors:
            raise errors[0]

    def _lifespan_loop(self) -> LoopThread:
        """The loop async lifespan code and hooks run on (started on first use)."""
        if self._loop_thread is None:
            self._loop_thread = LoopThread()
        return self._loop_thread

    def _run_hook(self, hook: Callable[[], Any]) -> None:
        result = hook()
        if inspect.isawaitable(result):
            self._lifespan_loop().run(result)

    def _lifespan_context(
        self,
    ) -> contextlib.AbstractContextManager[Any] | contextlib.AbstractAsyncContextManager[Any]:
        lifespan = self.lifespan
        assert lifespan is not None
        if inspect.isgeneratorfunction(lifespan):
            return contextlib.contextmanager(lifespan)(self)
        if inspect.isasyncgenfunction(lifespan):
            return contextlib.asynccontextmanager(lifespan)(self)
        cm = lifespan(self)
        if not isinstance(
            cm, contextlib.AbstractContextManager | contextlib.AbstractAsyncContextManager
        ):
            raise BarqError(
                "lifespan= must be a generator function taking the app (yield once), an "
                "async one, or return a (async) context manager; "
                f"{lifespan!r} returned {cm!r}"
            )
        return cm

    @contextlib.contextmanager
    def lifespan_context(self) -> Iterator[Barq]:
        """``with app.lifespan_context(): ...`` runs startup and shutdown around a block."""
        self.startup()
        try:
            yield self
        finally:
            self.shutdown()

    # -- request handling ---------------------------------------------------

    def build(self) -> None:
        """Freeze the app: compile routes whose annotations named classes defined
        later in their module, add the docs routes, build the middleware chain,
        and build mounted apps. Idempotent; :meth:`startup` calls it, and so does
        ``TestClient`` before its first request. After it, registering raises.

        Raises :class:`~barq.exceptions.BarqError` for a name that still cannot
        be resolved."""
        if self._stack is not None:
            return
        with self._build_lock:
            if self._stack is not None:
                return
            for route in self.router.routes:
                route.resolve()
            from barq.openapi.docs import add_docs_routes

            add_docs_routes(self)
            # Without middleware the chain is the dispatch method itself (the
            # fast path of def routes); middleware gets a link it can also await.
            app: CallNext = _Dispatcher(self) if self.user_middleware else self._dispatch
            for spec in reversed(self.user_middleware):
                app = spec.build(app)
            self.router.frozen = True
            self._tree = self.router.tree
            self._websockets = any(WEBSOCKET in route.methods for route in self.router.routes)
            self._streaming = any(route.streams_body for route in self.router.routes)
            for _, mounted in self.mounts:
                build = getattr(mounted, "build", None)
                if build is not None:
                    build()
            self._stack = app

    def __call__(self, raw: HTTPRequest) -> HTTPResponse:
        """Handle one complete request (the server's application interface)."""
        stack = self._stack
        if stack is None:
            return self.respond(raw)  # raises the "not started" error
        if self._websockets and raw.method == "GET" and _wants_websocket(raw):
            answer = self._websocket(raw)
            if answer is not None:
                return answer
        request = Request(raw, self)
        try:
            return stack(request).to_http(request)
        except Exception as exc:
            return self._server_error(request, exc).to_http()

    def respond(self, raw: HTTPRequest, *, reraise: bool = False) -> HTTPResponse:
        """:meth:`__call__`; with ``reraise`` an exception no handler took is raised
        after the 500 handler ran (``TestClient(raise_server_exceptions=True)``)."""
        stack = self._stack
        if stack is None:
            raise RuntimeError(
                "the application is not started: the server calls app.startup() before "
                "serving, TestClient builds it itself; call app.startup() or app.build() first"
            )
        if self._websockets and raw.method == "GET" and _wants_websocket(raw):
            answer = self._websocket(raw)
            if answer is not None:
                return answer
        request = Request(raw, self)
        try:
            response = stack(request)
            return response.to_http(request)
        except Exception as exc:
            answer = self._server_error(request, exc).to_http()
            if reraise:
                raise
            return answer

    def streams_body(self, raw: HTTPRequest) -> bool:
        """Whether the route for ``raw`` (a request head) reads its body as it
        arrives (the server's question, see ``Application``)."""
        if not self._streaming:
            return False
        match = self._tree.match(raw.method, raw.path)
        route = match.route if match is not None else None
        return route is not None and bool(route.streams_body)

    def _websocket(self, raw: HTTPRequest) -> HTTPResponse | None:
        """Answer a WebSocket handshake for a WebSocket route: an ``upgrade``
        response that starts its session, or the HTTP error saying why the
        handshake is refused; None when no WebSocket route has the path."""
        match = self._tree.match(WEBSOCKET, raw.path)
        if match is None or match.route is None or WEBSOCKET not in match.route.methods:
            return None
        route = match.route
        ws = WebSocket(raw, self)
        raw.route = route.path
        ws.route = route
        ws.path_params = dict(match.params)
        error = handshake_error(raw)
        if error is not None:
            return http_exception_handler(ws, error).to_http(ws)
        assert isinstance(route, WebSocketRoute)
        return HTTPResponse(101, upgrade=start_session(route, ws, match.params))

    def serve_request(self, request: Request) -> Response:
        """Run ``request`` through this app's middleware and routes (used when it is
        mounted in another app: ``request.raw.path`` is relative to the mount)."""
        stack = self._stack
        if stack is None:
            raise RuntimeError("a mounted application must be built with its parent")
        return stack(Request(request.raw, self))

    async def aserve_request(self, request: Request) -> Response:
        """:meth:`serve_request` from async code (a parent app's async middleware)."""
        stack = self._stack
        if stack is None:
            raise RuntimeError("a mounted application must be built with its parent")
        if not self.user_middleware:
            return await self._adispatch(Request(request.raw, self))
        return await acall(stack, Request(request.raw, self))

    def _find(self, request: Request) -> tuple[Any, Any]:
        """Where ``request`` goes: ``(route, params)``, or ``(None, response)`` for
        a redirect, or ``(mount, sub_request)`` for a mounted app. Raises the 404/405."""
        raw = request.raw
        if self.mounts:
            target = find_mount(self.mounts, request)
            if target is not None:
                return target
        match = self._tree.match(raw.method, raw.path)
        if match is None:
            redirect = self._slash_redirect(raw) if self.redirect_slashes else None
            if redirect is not None:
                return None, redirect
            if self.mounts:
                target = find_mount(self.mounts, request, fallback=True)
                if target is not None:
                    return target
            raise HTTPException(404)
        route = match.route
        if route is None:
            methods = [m for m in match.allowed or () if m != WEBSOCKET]
            if not methods:
                raise HTTPException(
                    426,
                    "This endpoint speaks WebSocket: open it with a WebSocket client",
                    headers={"upgrade": "websocket", "sec-websocket-version": "13"},
                )
            raise HTTPException(405, headers={"allow": ", ".join(methods)})
        raw.route = route.path
        request.route = route
        request.path_params = dict(match.params)
        return route, match.params

    def _dispatch(self, request: Request) -> Response:
        try:
            if not self.mounts:  # the common case, inline: a route matches
                raw = request.raw
                match = self._tree.match(raw.method, raw.path)
                if match is not None and match.route is not None:
                    route = match.route
                    raw.route = route.path
                    request.route = route
                    request.path_params = dict(match.params)
                    return route.handle(request, match.params)
            where, what = self._find(request)
            if isinstance(where, Route):
                return where.handle(request, what)
            if where is None:
                response: Response = what
                return response
            return call_mounted(where, request, what)
        except Exception as exc:
            result = self._handled(request, exc)
            answer: Response = run_sync(result) if inspect.isawaitable(result) else result
            return answer

    def _handled(self, request: Request, exc: Exception) -> Any:
        """The registered handler's answer to ``exc`` (maybe awaitable); re-raises
        ``exc`` when no handler takes it."""
        handler = self._lookup_handler(exc)
        if handler is None:
            raise exc
        return handler(request, exc)

    async def _adispatch(self, request: Request) -> Response:
        """:meth:`_dispatch` from async code (below an async middleware)."""
        try:
            where, what = self._find(request)
            if isinstance(where, Route):
                if where.is_async:
                    return await where.handle_async(request, what)
                return where.handle(request, what)
            if where is None:
                response: Response = what
                return response
            return await acall_mounted(where, request, what)
        except Exception as exc:
            result = self._handled(request, exc)
            answer: Response = (await result) if inspect.isawaitable(result) else result
            return answer

    def _slash_redirect(self, raw: HTTPRequest) -> Response | None:
        path = raw.path
        if path == "/" or not path.startswith("/"):
            return None
        other = path[:-1] if path.endswith("/") else path + "/"
        match = self._tree.match(raw.method, other)
        if match is None or match.route is None:
            return None
        target = other + ("?" + raw.query if raw.query else "")
        return RedirectResponse(target, status_code=307)

    def _lookup_handler(self, exc: Exception) -> ExceptionHandler | None:
        handlers = self.exception_handlers
        if isinstance(exc, HTTPException):
            by_status = handlers.get(exc.status_code)
            if by_status is not None:
                return by_status
        cls = type(exc)
        try:
            return self._handler_cache[cls]
        except KeyError:
            pass
        found = None
        for klass in cls.__mro__:
            if klass is Exception or klass is BaseException:
                break
            handler = handlers.get(klass)
            if handler is not None:
                found = handler
                break
        self._handler_cache[cls] = found
        return found

    def _server_error(self, request: Request, exc: Exception) -> Response:
        raw = request.raw
        logger.error("Exception in %s %s", raw.method, raw.target, exc_info=exc)
        handler = self.exception_handlers.get(Exception) or self.exception_handlers.get(500)
        if handler is not None:
            try:
                result = handler(request, exc)
                if inspect.isawaitable(result):
                    result = run_sync(result)
                return result
            except Exception:
                logger.exception("the 500 exception handler itself failed")
        if self.debug:
            return debug_response(request, exc)
        # FastAPI's answer is the plain text; a client that asks for JSON gets JSON
        if "application/json" in (raw.header("accept") or "").lower():
            return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
        return PlainTextResponse("Internal Server Error", status_code=500)

    # -- running ------------------------------------------------------------

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        threads: int | None = None,
        workers: int | None = None,
        **server_options: Any,
    ) -> None:
        """Serve this app with Barq's HTTP server until SIGINT/SIGTERM.

        ``threads`` (alias ``workers``) is the number of worker threads; other
        options go to :class:`barq.server.ServerConfig`.
        """
        from barq.server import serve

        if threads is None:
            threads = workers
        serve(self, host=host, port=port, threads=threads, **server_options)

    def __repr__(self) -> str:
        return f"<Barq {self.title!r} routes={len(self.routes)}>"


class FastAPI(Barq):
    """:class:`Barq` under the name FastAPI apps use (``from barq import FastAPI``),
    with FastAPI's default document title."""

    def __init__(self, *, title: str = "FastAPI", **options: Any) -> None:
        super().__init__(title=title, **options)


class _Dispatcher:
    """The innermost link of the middleware chain: routing and the handlers, the
    plain way (``link(request)``) or the async way (``await link.acall(request)``)."""

    __slots__ = ("_adispatch", "_dispatch")

    def __init__(self, app: Barq) -> None:
        self._dispatch = app._dispatch
        self._adispatch = app._adispatch

    def __call__(self, request: Request) -> Response:
        return self._dispatch(request)

    async def acall(self, request: Request) -> Response:
        return await self._adispatch(request)


def _wants_websocket(raw: HTTPRequest) -> bool:
    upgrade = raw.header("upgrade")
    return upgrade is not None and upgrade.strip().lower() == "websocket"


def debug_response(request: Request, exc: BaseException) -> Response:
    """A 500 response showing the traceback: an HTML page for browsers, JSON for
    clients that ask for JSON (``Accept``, or a JSON request with no preference),
    plain text otherwise."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    raw = request.raw
    accept = (raw.header("accept") or "").lower()
    if "text/html" in accept:
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>500 Internal Server "
            "Error</title><style>body{font-family:system-ui,sans-serif;margin:2rem}"
            "pre{background:#f6f6f6;padding:1rem;overflow:auto}</style></head><body>"
            f"<h1>500 Internal Server Error</h1><p>{html.escape(raw.method)} "
            f"{html.escape(raw.target)}</p><h2>{html.escape(type(exc).__name__)}: "
            f"{html.escape(str(exc))}</h2><pre>{html.escape(text)}</pre></body></html>"
        )
        return HTMLResponse(page, status_code=500)
    no_preference = accept in ("", "*/*")
    if "json" in accept or (no_preference and "json" in (raw.header("content-type") or "")):
        return JSONResponse(
            {
                "detail": "Internal Server Error",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": text.splitlines(),
            },
            status_code=500,
        )
    return PlainTextResponse(text, status_code=500)
