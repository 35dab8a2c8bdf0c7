"""WebSocket endpoints: ``@app.websocket("/ws")`` and the :class:`WebSocket` they get.

The API is FastAPI's (Starlette's): ``accept()``, ``receive_text/bytes/json()``,
``send_text/bytes/json()``, ``iter_text()``, ``close(code, reason)``, and
:class:`WebSocketDisconnect` once the client is gone. Path, query, header and
cookie parameters and ``Depends`` (with teardown after the session) work as for
HTTP routes.

Where the session runs (the server's side is :mod:`barq.server.websockets`):

- an ``async def`` endpoint runs as a task on the WebSocket event-loop thread
  that owns the connection, and awaits the methods (``await ws.receive_text()``);
- a ``def`` endpoint runs on a thread of its own for the life of the socket and
  calls the same methods without ``await`` (each returns its result directly).

Neither holds an HTTP worker. The methods tell the two cases apart by whether
the calling thread runs an event loop.

How sessions end: when the endpoint returns, the socket is closed with 1000
(with 403 if it never accepted); :class:`WebSocketException` closes with its
code; invalid parameters close with 1008 (a 403 answer before ``accept()``);
an :class:`~barq.exceptions.HTTPException` before ``accept()`` becomes that
HTTP answer; any other exception is logged and closes with 1011 (500 before
``accept()``).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import threading
from asyncio import events
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from barq import jsonlib
from barq.concurrency import run_sync
from barq.context import RequestContext
from barq.dependencies import solve, solve_async, teardown, teardown_async
from barq.exceptions import (
    BarqError,
    HTTPException,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketRequestValidationError,
)
from barq.http.messages import (
    HTTPRequest,
    HTTPResponse,
    WebSocketClosed,
    WebSocketGone,
    WebSocketTransport,
)
from barq.requests import Request
from barq.routing import Route, RouteOptions
from barq.signatures import compile_plan

if TYPE_CHECKING:
    from barq.app import Barq
    from barq.signatures import CallPlan

__all__ = [
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRequestValidationError",
    "WebSocketRoute",
    "WebSocketState",
    "handshake_error",
    "start_session",
]

logger = logging.getLogger("barq.app")

#: The pseudo-method WebSocket routes are registered under in the route tree.
WEBSOCKET = "WEBSOCKET"


class WebSocketState(enum.Enum):
    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


def _in_loop_of(loop: asyncio.AbstractEventLoop) -> bool:
    return events._get_running_loop() is loop


class WebSocket(Request):
    """One WebSocket session, as its endpoint sees it (a :class:`Request` too:
    ``headers``, ``query_params``, ``cookies``, ``path_params``, ``url``,
    ``client``, ``app``, ``state``).

    Every method works with ``await`` in ``async def`` code and without it in
    ``def`` code (see the module docstring)."""

    def __init__(self, raw: HTTPRequest, app: Barq | None = None) -> None:
        super().__init__(raw, app)
        self._transport: WebSocketTransport | None = None
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING
        #: the subprotocols the client offered, in its order
        self.subprotocols: list[str] = [
            p.strip()
            for name, value in raw.headers
            if name == "sec-websocket-protocol"
            for p in value.split(",")
            if p.strip()
        ]

    # -- running the coroutines where the connection lives ------------------------------

    def _call(self, coro: Awaitable[Any]) -> Any:
        transport = self._transport
        if transport is None:
            raise RuntimeError("the WebSocket session has not started")
        loop = transport.loop
        if _in_loop_of(loop):
            return coro
        try:
            future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, loop)  # type: ignore[arg-type]
        except RuntimeError:  # the loop is closed: the server stopped
            if inspect.iscoroutine(coro):
                coro.close()
            raise WebSocketDisconnect(1001, "server shutting down") from None
        if events._get_running_loop() is not None:
            return asyncio.wrap_future(future)  # awaited from another event loop
        return future.result()

    # -- the handshake ------------------------------------------------------------------

    def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[str | bytes, str | bytes]] | None = None,
    ) -> Any:
        """Accept the handshake (101), choosing ``subprotocol`` among
        :attr:`subprotocols`; ``headers`` go into the 101 answer."""
        return self._call(self._accept(subprotocol, headers))

    async def _accept(
        self,
        subprotocol: str | None,
        headers: Iterable[tuple[str | bytes, str | bytes]] | None,
    ) -> None:
        if self.application_state is not WebSocketState.CONNECTING:
            raise RuntimeError('Cannot call "accept" twice, or after "close"')
        pairs = [(_text(k), _text(v)) for k, v in headers or ()]
        assert self._transport is not None
        await self._transport.accept(subprotocol, pairs)
        self.application_state = WebSocketState.CONNECTED
        self.client_state = WebSocketState.CONNECTED

    def send_denial_response(self, response: Any) -> Any:
        """Answer the handshake with an HTTP response instead of accepting."""
        return self._call(self._deny(response))

    async def _deny(self, response: Any) -> None:
        if self.application_state is not WebSocketState.CONNECTING:
            raise RuntimeError("the handshake was already answered")
        raw = response.to_http(self) if hasattr(response, "to_http") else response
        assert self._transport is not None
        await self._transport.reject(raw)
        self.application_state = WebSocketState.RESPONSE
        self.client_state = WebSocketState.DISCONNECTED

    # -- receiving ----------------------------------------------------------------------

    async def _next(self) -> str | bytes:
        if self.application_state is WebSocketState.CONNECTING:
            raise RuntimeError('WebSocket is not connected. Need to call "accept" first.')
        if self.client_state is WebSocketState.DISCONNECTED:
            raise RuntimeError('Cannot call "receive" once a disconnect message has been received.')
        assert self._transport is not None
        message = await self._transport.receive()
        if isinstance(message, WebSocketClosed):
            self.client_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(message.code, message.reason)
        return message

    def receive(self) -> Any:
        """The next message as Starlette gives it: ``{"type": "websocket.receive",
        "text": ...}`` (or ``"bytes"``), or ``{"type": "websocket.disconnect", "code": ...}``."""
        return self._call(self._receive())

    async def _receive(self) -> dict[str, Any]:
        try:
            message = await self._next()
        except WebSocketDisconnect as exc:
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason}
        if isinstance(message, str):
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    def receive_text(self) -> Any:
        """The next text message (a binary one closes the socket with 1003)."""
        return self._call(self._receive_text())

    def receive_bytes(self) -> Any:
        """The next binary message (a text one closes the socket with 1003)."""
        return self._call(self._receive_bytes())

    async def _receive_text(self) -> str:
        text: str = await self._receive_kind(str, "expected a text message")
        return text

    async def _receive_bytes(self) -> bytes:
        data: bytes = await self._receive_kind(bytes, "expected a binary message")
        return data

    async def _receive_kind(self, kind: type, refusal: str) -> Any:
        message = await self._next()
        if not isinstance(message, kind):
            await self._refuse(1003, refusal)
        return message

    def receive_json(self, mode: str = "text") -> Any:
        """The next message parsed as JSON (``mode="binary"`` for binary frames);
        invalid JSON closes the socket with 1007."""
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        return self._call(self._receive_json(mode))

    async def _receive_json(self, mode: str) -> Any:
        message = await (self._receive_text() if mode == "text" else self._receive_bytes())
        try:
            return jsonlib.loads(message.encode("utf-8") if isinstance(message, str) else message)
        except ValueError:
            await self._refuse(1007, "the message is not valid JSON")

    async def _refuse(self, code: int, reason: str) -> None:
        """The client sent what the endpoint cannot read: close and end the session."""
        await self._close(code, reason)
        self.client_state = WebSocketState.DISCONNECTED
        raise WebSocketDisconnect(code, reason)

    def iter_text(self) -> _Messages:
        """Text messages until the client disconnects (``for`` or ``async for``)."""
        return _Messages(self, self._receive_text)

    def iter_bytes(self) -> _Messages:
        """Binary messages until the client disconnects (``for`` or ``async for``)."""
        return _Messages(self, self._receive_bytes)

    def iter_json(self) -> _Messages:
        """JSON messages until the client disconnects (``for`` or ``async for``)."""
        return _Messages(self, lambda: self._receive_json("text"))

    # -- sending -------------------------------------------------------------------------

    def send_text(self, data: str) -> Any:
        return self._call(self._send(str(data)))

    def send_bytes(self, data: bytes) -> Any:
        return self._call(self._send(bytes(data)))

    def send_json(self, data: Any, mode: str = "text") -> Any:
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        encoded = jsonlib.dumps(data)
        return self._call(self._send(encoded.decode("utf-8") if mode == "text" else encoded))

    def send(self, message: dict[str, Any]) -> Any:
        """Starlette's message form: ``{"type": "websocket.send", "text": ...}``,
        ``websocket.accept`` or ``websocket.close``."""
        kind = message.get("type")
        if kind == "websocket.accept":
            return self.accept(message.get("subprotocol"), message.get("headers"))
        if kind == "websocket.close":
            return self.close(message.get("code", 1000), message.get("reason"))
        if kind == "websocket.send":
            if message.get("text") is not None:
                return self.send_text(message["text"])
            return self.send_bytes(message.get("bytes") or b"")
        raise RuntimeError(f"unknown WebSocket message type {kind!r}")

    async def _send(self, data: str | bytes) -> None:
        state = self.application_state
        if state is WebSocketState.CONNECTING:
            raise RuntimeError('WebSocket is not connected. Need to call "accept" first.')
        if state is not WebSocketState.CONNECTED:
            raise RuntimeError('Cannot call "send" once a close message has been sent.')
        assert self._transport is not None
        try:
            await self._transport.send(data)
        except WebSocketGone as exc:
            self.client_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(exc.code, exc.reason) from None

    # -- closing -------------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str | None = None) -> Any:
        """Close with ``code`` (before ``accept()``: refuse the handshake with 403)."""
        return self._call(self._close(code, reason or ""))

    async def _close(self, code: int, reason: str) -> None:
        state = self.application_state
        if state in (WebSocketState.DISCONNECTED, WebSocketState.RESPONSE):
            return
        assert self._transport is not None
        await self._transport.close(code, reason)
        self.application_state = WebSocketState.DISCONNECTED


class _Messages:
    """What ``iter_text()`` and friends return: iterable with ``for`` (``def``
    endpoints) and ``async for`` (``async def`` ones); ends at the disconnect."""

    def __init__(self, ws: WebSocket, receive: Callable[[], Awaitable[Any]]) -> None:
        self._ws = ws
        self._receive = receive

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._async()

    async def _async(self) -> AsyncIterator[Any]:
        try:
            while True:
                yield await self._ws._call(self._receive())
        except WebSocketDisconnect:
            return

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                yield self._ws._call(self._receive())
        except WebSocketDisconnect:
            return


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


# -- routes ---------------------------------------------------------------------------------


class WebSocketRoute(Route):
    """A WebSocket endpoint (``@app.websocket(path)``): never in the OpenAPI
    document, served only to WebSocket handshakes."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] = (WEBSOCKET,),
        localns: Any = None,
        options: RouteOptions | None = None,
        **kwargs: Any,
    ) -> None:
        if options is None:
            options = RouteOptions.from_kwargs(f"WebSocket route {path!r}", kwargs)
            kwargs = {}
        kwargs["include_in_schema"] = False
        super().__init__(
            path, endpoint, methods=(WEBSOCKET,), localns=localns, options=options, **kwargs
        )
        self._where = f"WebSocket route {path} ({self.name})"

    def _analyse(self) -> None:
        names = self.param_names
        try:
            self.plan = compile_plan(
                self.endpoint, frozenset(names), self.options.dependencies, localns=self.localns
            )
        except BarqError as exc:
            raise BarqError(f"{self._where}: {exc}") from exc
        for field in self.plan.all_fields():
            if field.location in ("body", "form", "file"):
                raise BarqError(
                    f"{self._where}: parameter {field.name!r} reads a request body "
                    "(Body/Form/File), which a WebSocket handshake has none of: "
                    "receive it as a message instead"
                )
        if self.plan.is_generator or self.plan.is_async_generator:
            raise BarqError(f"{self._where}: a WebSocket endpoint cannot be a generator")
        self.body = None
        self.stream = None
        self.stream_item_adapter = None
        self.response_model = None
        self.response_adapter = None
        self._model_type = None
        self._response_class = self.options.response_class
        self._json = False
        self._no_body = True
        self._fast = False
        self.streams_body = False
        self.is_async = self.plan.needs_async
        self._endpoint_async = self.plan.is_async
        self._direct = False

    def handle(self, request: Request, params: dict[str, str]) -> Any:
        raise HTTPException(426, "This endpoint speaks WebSocket: open it with a WebSocket client")


def handshake_error(raw: HTTPRequest) -> HTTPException | None:
    """Why a WebSocket handshake cannot be accepted (RFC 6455 4.2.1), or None."""
    if raw.http_version != "1.1":
        return HTTPException(400, "A WebSocket handshake needs HTTP/1.1")
    connection = (raw.header("connection") or "").lower()
    if "upgrade" not in [t.strip() for t in connection.split(",")]:
        return HTTPException(400, "A WebSocket handshake needs 'Connection: Upgrade'")
    version = (raw.header("sec-websocket-version") or "").strip()
    if version != "13":
        return HTTPException(
            426,
            "Unsupported WebSocket version: this server speaks version 13",
            headers={"sec-websocket-version": "13"},
        )
    key = (raw.header("sec-websocket-key") or "").strip()
    import base64
    import binascii

    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        return HTTPException(400, "Missing or invalid Sec-WebSocket-Key header")
    return None


# -- running a session -------------------------------------------------------------------


#: Tasks of async sessions, kept referenced while they run (the loop only keeps weak ones).
_running: set[asyncio.Task[None]] = set()


def start_session(
    route: WebSocketRoute, ws: WebSocket, params: dict[str, str]
) -> Callable[[WebSocketTransport], None]:
    """What ``HTTPResponse.upgrade`` gets: starts ``route``'s endpoint for ``ws``
    once the server (or ``TestClient``) took the connection over."""

    def start(transport: WebSocketTransport) -> None:
        ws._transport = transport
        plan = route.plan
        overrides = getattr(ws.app, "dependency_overrides", None)
        if overrides:
            plan = route.plan_with(overrides)
        if route._endpoint_async:
            task = transport.loop.create_task(_run_async(route, plan, ws, params, transport))
            _running.add(task)
            task.add_done_callback(_running.discard)
        else:
            threading.Thread(
                target=_run_in_thread,
                args=(route, plan, ws, params, transport),
                name=f"barq-websocket-{route.name}",
                daemon=True,
            ).start()

    return start


async def _run_async(
    route: WebSocketRoute,
    plan: CallPlan,
    ws: WebSocket,
    params: dict[str, str],
    transport: WebSocketTransport,
) -> None:
    ctx = RequestContext(ws, params)
    error: BaseException | None = None
    try:
        kwargs = await solve_async(plan, ctx) if plan.needs_async else solve(plan, ctx)
        if ctx.errors or kwargs is None:
            raise WebSocketRequestValidationError(ctx.errors)
        result = route.endpoint(**kwargs)
        if inspect.isawaitable(result):
            await result
    except BaseException as exc:
        error = exc
    generators = [*ctx.generators, *ctx.function_generators]
    if generators:
        ctx.generators, ctx.function_generators = [], []
        error = await teardown_async(generators, error)
    if isinstance(error, asyncio.CancelledError):
        raise error  # the server is stopping: its loop closes the socket
    await _end(ws, transport, error)


def _run_in_thread(
    route: WebSocketRoute,
    plan: CallPlan,
    ws: WebSocket,
    params: dict[str, str],
    transport: WebSocketTransport,
) -> None:
    ctx = RequestContext(ws, params)
    error: BaseException | None = None
    try:
        kwargs = run_sync(solve_async(plan, ctx)) if plan.needs_async else solve(plan, ctx)
        if ctx.errors or kwargs is None:
            raise WebSocketRequestValidationError(ctx.errors)
        route.endpoint(**kwargs)
    except BaseException as exc:
        error = exc
    generators = [*ctx.generators, *ctx.function_generators]
    if generators:
        if plan.needs_async:
            error = run_sync(teardown_async(generators, error))
        else:
            error = teardown(generators, error)
    try:
        asyncio.run_coroutine_threadsafe(_end(ws, transport, error), transport.loop).result()
    except RuntimeError:  # the server's loop is gone: it closed the socket
        pass


async def _end(ws: WebSocket, transport: WebSocketTransport, error: BaseException | None) -> None:
    """Close the session as its outcome says (see the module docstring), and
    report an unexpected error to a transport that asks (``TestClient``)."""
    try:
        unexpected = await _close_for(ws, transport, error)
    except RuntimeError:  # the server answered the handshake itself (it is stopping)
        unexpected = error
    finished = getattr(transport, "session_finished", None)
    if finished is not None:
        finished(unexpected)


async def _close_for(
    ws: WebSocket, transport: WebSocketTransport, error: BaseException | None
) -> BaseException | None:
    connecting = ws.application_state is WebSocketState.CONNECTING
    unexpected: BaseException | None = None
    if error is None or isinstance(error, WebSocketDisconnect):
        # A disconnect the endpoint let escape is normal for the server; a
        # TestClient re-raises it in the test, as Starlette's does.
        unexpected = error
        if connecting:
            await transport.reject(_plain(403, "Forbidden"))
        else:
            await ws._close(1000, "")
    elif isinstance(error, WebSocketException):
        if connecting:
            await transport.reject(_plain(403, error.reason or "Forbidden"))
        else:
            await ws._close(error.code, error.reason)
    elif isinstance(error, WebSocketRequestValidationError):
        if connecting:
            body = jsonlib.dumps({"detail": error.errors()})
            await transport.reject(HTTPResponse(403, [("content-type", "application/json")], body))
        else:
            await ws._close(1008, _reason(jsonlib.dumps(error.errors()).decode()))
    elif isinstance(error, HTTPException) and connecting:
        body = jsonlib.dumps({"detail": error.detail})
        headers = [("content-type", "application/json"), *(error.headers or {}).items()]
        await transport.reject(HTTPResponse(error.status_code, headers, body))
    else:
        unexpected = error
        logger.error(
            "Exception in WebSocket endpoint %s", ws.raw.target, exc_info=error
        )  # fmt: skip
        if connecting:
            await transport.reject(_plain(500, "Internal Server Error"))
        else:
            await ws._close(1011, "Internal Server Error")
    return unexpected


def _plain(status: int, text: str) -> HTTPResponse:
    return HTTPResponse(status, [("content-type", "text/plain; charset=utf-8")], text.encode())


def _reason(text: str) -> str:
    """A close reason fits in a control frame: 123 bytes of UTF-8."""
    data = text.encode("utf-8")
    if len(data) <= 123:
        return text
    return data[:120].decode("utf-8", "ignore") + "..."
