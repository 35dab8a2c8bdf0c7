"""WebSocket connections after the handshake: off the HTTP workers, on event-loop threads.

A worker that answers a WebSocket handshake (the application returned an
:class:`~barq.http.messages.HTTPResponse` with ``upgrade``) reserves a place
(:meth:`WebSocketHub.reserve`, refused beyond ``max_websockets``), takes the
connection out of the reactor and hands it over with :meth:`WebSocketHub.adopt`,
then goes back to HTTP. From then on the connection belongs to one of the hub's
*loop threads* (``<name>-websocket-N``, started on first use), each running an
asyncio event loop that watches its sockets (``add_reader``), frames and unframes
messages with wsproto (sans-I/O, permessage-deflate when the client offers it)
and runs the application's session (the ``upgrade`` callable, which starts an
``async def`` endpoint as a task on that loop, or a ``def`` one on a thread of
its own that calls into the loop). An open WebSocket, idle or busy, never holds
an HTTP worker; an idle one costs its socket, its wsproto state and a few small
objects.

:class:`ServerWebSocket` is the :class:`~barq.http.messages.WebSocketTransport`;
everything on it runs on its loop thread, so it needs no locks. Flow control
both ways: input is read only while fewer than :data:`INBOX_MAX` messages wait
for the application (a peer sending faster than the endpoint reads is slowed by
TCP), and ``send()`` waits while more than :data:`OUTPUT_HIGH_WATER` bytes are
unsent (a peer that does not read holds its endpoint, never a thread); output
that makes no progress for ``write_timeout`` drops the connection.

Keep-alive: a socket silent for ``ws_ping_interval`` seconds is pinged; one
that does not answer within ``ws_ping_timeout`` is closed with 1011.

Shutdown (:meth:`WebSocketHub.shutdown`): every open WebSocket is sent a close
frame with 1001 (going away) and its endpoint sees the disconnect; the peers get
a moment to answer, then the sockets are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wsproto.connection import Connection as WSConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.handshake import server_extensions_handshake
from wsproto.utilities import LocalProtocolError, generate_accept_token

from barq.http.messages import HTTPRequest, HTTPResponse, WebSocketClosed, WebSocketGone
from barq.http.serializer import reason_phrase
from barq.server.connection import RECV_WOULD_BLOCK, WOULD_BLOCK

if TYPE_CHECKING:
    from barq.server.config import ServerConfig

__all__ = ["INBOX_MAX", "OUTPUT_HIGH_WATER", "ServerWebSocket", "WebSocketHub"]

logger = logging.getLogger("barq.server")

_RECV_SIZE = 65536
#: Messages waiting for the application before the socket is no longer read.
INBOX_MAX = 16
#: Unsent bytes above which ``send()`` waits for the peer to read.
OUTPUT_HIGH_WATER = 64 * 1024
#: Unsent bytes above which the socket is no longer read (resumed below
#: OUTPUT_HIGH_WATER): a peer cannot make us queue output it never reads.
INPUT_PAUSE_OUTPUT = 4 * OUTPUT_HIGH_WATER
#: How long a close we started waits for the peer's close frame.
CLOSE_WAIT_S = 2.0
#: How often each loop thread checks pings, stalled writes and closes.
_TICK_S = 0.5

# Phases of a ServerWebSocket.
HANDSHAKE = "handshake"  # neither accepted nor rejected yet
OPEN = "open"
CLOSING = "closing"  # our close frame is out: waiting for the peer's
CLOSED = "closed"  # done: the socket is closed (or closes once output is out)


def default_loop_threads() -> int:
    """One WebSocket loop thread per four cores, at least one, at most four."""
    return max(1, min(4, (os.cpu_count() or 1) // 4))


class RouteCounts:
    """Per-route WebSocket counters of one loop thread (written only there)."""

    __slots__ = ("messages_in", "messages_out", "open", "opened")

    def __init__(self) -> None:
        self.opened = 0
        self.open = 0
        self.messages_in = 0
        self.messages_out = 0


class WebSocketHub:
    """The server's WebSocket side: admission, loop threads, shutdown, counters."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.max_websockets = config.max_websockets
        self._threads = config.websocket_threads or default_loop_threads()
        # Guards _open, _loops and _next: a worker reserves and adopts, a loop
        # thread releases; a few operations per WebSocket, never per message.
        self._lock = threading.Lock()
        self._open = 0
        self._loops: list[_LoopThread] = []
        self._next = 0
        self.closing = False
        #: handshakes refused because max_websockets were open (or shutting down)
        self.refused = 0

    # -- workers ---------------------------------------------------------------

    def reserve(self) -> bool:
        """Count one more open WebSocket; False at ``max_websockets`` or while
        shutting down (the worker then answers 503)."""
        with self._lock:
            if self.closing or self._open >= self.max_websockets:
                self.refused += 1
                return False
            self._open += 1
            return True

    def release(self) -> None:
        """A reserved WebSocket is gone (or was never adopted)."""
        with self._lock:
            self._open -= 1

    def adopt(
        self,
        sock: socket.socket,
        data: bytes,
        request: HTTPRequest,
        start: Callable[[ServerWebSocket], None],
        *,
        tls: bool,
    ) -> None:
        """Take over ``sock`` (after :meth:`reserve`): ``data`` is what the client
        sent after the handshake request; ``start`` begins the session on the
        loop thread."""
        home = self._pick()
        try:
            home.loop.call_soon_threadsafe(home.open, sock, data, request, start, tls)
        except RuntimeError:  # the loop is closed: shutting down
            self.release()
            with contextlib.suppress(OSError):
                sock.close()

    def _pick(self) -> _LoopThread:
        with self._lock:
            if len(self._loops) < self._threads:
                home = _LoopThread(self, f"{self.config.name}-websocket-{len(self._loops)}")
                self._loops.append(home)
                home.start()
                return home
            home = self._loops[self._next % len(self._loops)]
            self._next += 1
            return home

    # -- shutdown --------------------------------------------------------------

    def shutdown(self, grace: float = CLOSE_WAIT_S) -> None:
        """Close every WebSocket with 1001, wait up to ``grace`` for the peers'
        answers, then close what is left and stop the loop threads."""
        with self._lock:
            self.closing = True
            loops = list(self._loops)
        for home in loops:
            with contextlib.suppress(RuntimeError):
                home.loop.call_soon_threadsafe(home.close_all, 1001, "server shutting down")
        deadline = time.monotonic() + grace
        while self._open > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        for home in loops:
            home.stop()

    # -- observation (any thread, racy) ----------------------------------------

    @property
    def open_count(self) -> int:
        return self._open

    def route_counts(self) -> dict[str, dict[str, int]]:
        """Per route: WebSockets opened and open, messages in and out."""
        result: dict[str, dict[str, int]] = {}
        for home in list(self._loops):
            for route, counts in list(home.routes.items()):
                entry = result.setdefault(
                    route, {"opened": 0, "open": 0, "messages_in": 0, "messages_out": 0}
                )
                entry["opened"] += counts.opened
                entry["open"] += counts.open
                entry["messages_in"] += counts.messages_in
                entry["messages_out"] += counts.messages_out
        return result


class _LoopThread:
    """One ``<name>-websocket-N`` thread: its event loop and the sockets it owns."""

    def __init__(self, hub: WebSocketHub, name: str) -> None:
        self.hub = hub
        self.config = hub.config
        self.loop = asyncio.new_event_loop()
        #: the open WebSockets of this thread (this thread only)
        self.sessions: set[ServerWebSocket] = set()
        #: counters by route (written by this thread only)
        self.routes: dict[str, RouteCounts] = {}
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._stop)
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=2.0)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_later(_TICK_S, self._tick)
        try:
            self.loop.run_forever()
        finally:
            for ws in list(self.sessions):
                ws.abort()
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def _stop(self) -> None:
        for ws in list(self.sessions):
            ws.abort()
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.stop()

    # -- on this thread --------------------------------------------------------

    def open(
        self,
        sock: socket.socket,
        data: bytes,
        request: HTTPRequest,
        start: Callable[[ServerWebSocket], None],
        tls: bool,
    ) -> None:
        route = request.route or request.path
        counts = self.routes.get(route)
        if counts is None:
            counts = self.routes[route] = RouteCounts()
        ws = ServerWebSocket(self, sock, data, request, tls, counts)
        self.sessions.add(ws)
        counts.opened += 1
        counts.open += 1
        try:
            start(ws)
        except Exception:
            logger.exception("error starting the WebSocket session for %s", request.target)
            ws.abort()

    def forget(self, ws: ServerWebSocket) -> None:
        if ws in self.sessions:
            self.sessions.discard(ws)
            ws.counts.open -= 1
            self.hub.release()

    def close_all(self, code: int, reason: str) -> None:
        for ws in list(self.sessions):
            ws.shut_down(code, reason)

    def _tick(self) -> None:
        now = time.monotonic()
        for ws in list(self.sessions):
            try:
                ws.tick(now)
            except Exception:  # pragma: no cover - a bug here must not stop the loop
                logger.exception("error checking %r", ws)
                ws.abort()
        self.loop.call_later(_TICK_S, self._tick)


class ServerWebSocket:
    """One upgraded connection: the :class:`~barq.http.messages.WebSocketTransport`
    the application's session uses. Runs on its loop thread only."""

    def __init__(
        self,
        home: _LoopThread,
        sock: socket.socket,
        data: bytes,
        request: HTTPRequest,
        tls: bool,
        counts: RouteCounts,
    ) -> None:
        self.home = home
        self.config = home.config
        self.counts = counts
        self._loop = home.loop
        self.sock = sock
        self.fd = sock.fileno()
        self._request = request
        self.tls = tls
        self.phase = HANDSHAKE
        self.ws: WSConnection | None = None
        #: what the client sent after the handshake request, fed once accepted
        self._early = data
        self._inbox: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[str | bytes | WebSocketClosed] | None = None
        #: the close the application sees (once it is known)
        self.closed_with: WebSocketClosed | None = None
        self._parts: list[Any] = []
        self._parts_size = 0
        self._out: deque[bytes | memoryview] = deque()
        self._out_size = 0
        self._drained: asyncio.Future[None] | None = None
        self._reading = False
        self._writing = False
        self._close_when_flushed = False
        self._socket_closed = False
        now = time.monotonic()
        self.last_input = now
        self._ping_sent = 0.0  # when the unanswered ping went out (0: none)
        self._close_deadline = 0.0
        self._stalled_since = 0.0  # output pending and no progress since

    # -- the transport interface ---------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def request(self) -> HTTPRequest:
        return self._request

    async def accept(
        self, subprotocol: str | None = None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        if self.phase != HANDSHAKE:
            raise RuntimeError(f"accept(): the handshake was already answered ({self.phase})")
        request = self._request
        key = request.header("sec-websocket-key") or ""
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "upgrade: websocket",
            "connection: Upgrade",
            "sec-websocket-accept: " + generate_accept_token(key.encode("ascii")).decode("ascii"),
        ]
        if subprotocol:
            lines.append("sec-websocket-protocol: " + _header_value(subprotocol))
        extensions: list[Extension] = []
        if self.config.ws_per_message_deflate:
            offers = [
                piece.strip()
                for name, value in request.headers
                if name == "sec-websocket-extensions"
                for piece in value.split(",")
                if piece.strip()
            ]
            if offers:
                deflate = PerMessageDeflate()
                agreed = server_extensions_handshake(offers, [deflate])
                if agreed:
                    extensions.append(deflate)
                    lines.append("sec-websocket-extensions: " + agreed.decode("ascii"))
        for name, value in headers or ():
            lines.append(f"{_header_value(name)}: {_header_value(value)}")
        if self.config.server_header:
            lines.append("server: " + self.config.server_header)
        self.ws = WSConnection(ConnectionType.SERVER, extensions)
        self.phase = OPEN
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        early, self._early = self._early, b""
        if early:
            self._feed(early)
        if self.phase in (OPEN, CLOSING):
            self._start_reading()

    async def reject(self, response: HTTPResponse) -> None:
        if self.phase != HANDSHAKE:
            raise RuntimeError(f"reject(): the handshake was already answered ({self.phase})")
        body = response.body if isinstance(response.body, bytes) else b""
        lines = [f"HTTP/1.1 {response.status} {reason_phrase(response.status)}"]
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                lines.append(f"{_header_value(name)}: {_header_value(value)}")
        lines.append(f"content-length: {len(body)}")
        lines.append("connection: close")
        if self.config.server_header:
            lines.append("server: " + self.config.server_header)
        self.phase = CLOSED
        self.closed_with = WebSocketClosed(1006, "handshake rejected")
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self._finish()

    async def receive(self) -> str | bytes | WebSocketClosed:
        if self._inbox:
            message = self._inbox.popleft()
            self._resume_reading()  # room again: read on
            return message
        if self.closed_with is not None:
            return self.closed_with
        if self.phase == HANDSHAKE:
            raise RuntimeError("receive(): the WebSocket is not accepted yet")
        if self._waiter is not None:
            raise RuntimeError("receive(): another receive() is already waiting")
        waiter: asyncio.Future[str | bytes | WebSocketClosed] = self._loop.create_future()
        self._waiter = waiter
        try:
            return await waiter
        finally:
            self._waiter = None

    async def send(self, message: str | bytes) -> None:
        ws = self.ws
        if self.phase != OPEN or ws is None or ws.state is not ConnectionState.OPEN:
            closed = self.closed_with
            if self.phase == HANDSHAKE:
                raise RuntimeError("send(): the WebSocket is not accepted yet")
            raise WebSocketGone(closed.code if closed else 1006, closed.reason if closed else "")
        if isinstance(message, str):
            data = ws.send(TextMessage(data=message))
        else:
            data = ws.send(BytesMessage(data=bytes(message)))
        self.counts.messages_out += 1
        self._write(data)
        while self._out_size > OUTPUT_HIGH_WATER and not self._socket_closed:
            drained = self._drained
            if drained is None:
                drained = self._drained = self._loop.create_future()
            await drained
        if self._socket_closed and self._out_size:
            closed = self.closed_with
            raise WebSocketGone(closed.code if closed else 1006, closed.reason if closed else "")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.phase == HANDSHAKE:
            await self.reject(
                HTTPResponse(403, [("content-type", "text/plain; charset=utf-8")], b"Forbidden")
            )
            return
        self._close(code, reason)

    # -- closing -----------------------------------------------------------------------

    def _close(self, code: int, reason: str) -> None:
        """Send our close frame and wait (a moment) for the peer's."""
        ws = self.ws
        if self.phase != OPEN or ws is None or ws.state is not ConnectionState.OPEN:
            return
        self._write(ws.send(CloseConnection(code=code, reason=reason or None)))
        self.phase = CLOSING
        self._close_deadline = time.monotonic() + CLOSE_WAIT_S

    def shut_down(self, code: int, reason: str) -> None:
        """The server is stopping: close with ``code`` and tell the application."""
        if self.phase == HANDSHAKE:
            self._loop.create_task(
                self.reject(HTTPResponse(503, [("retry-after", "1")], b"server shutting down"))
            )
            return
        self._close(code, reason)
        self._tell(WebSocketClosed(code, reason))

    def _fail(self, code: int, reason: str) -> None:
        """A protocol error or a limit: close with ``code`` without waiting."""
        self._close(code, reason)
        self._tell(WebSocketClosed(code, reason))
        self._finish()

    def _finish(self) -> None:
        """Done: close the socket once pending output is out."""
        if self.phase != CLOSED:
            self.phase = CLOSED
        if self._out:
            self._close_when_flushed = True
            if self._stalled_since == 0.0:
                self._stalled_since = time.monotonic()
        else:
            self._close_socket()

    def _lost(self) -> None:
        """The connection is gone (reset, or closed without a close frame)."""
        self._tell(WebSocketClosed(1006, "connection lost"))
        self.phase = CLOSED
        self._out.clear()
        self._out_size = 0
        self._close_socket()

    def abort(self) -> None:
        """Close at once (shutdown's last step, or a failed session start)."""
        self._tell(WebSocketClosed(1006, "connection closed by the server"))
        self.phase = CLOSED
        self._close_socket()

    def _close_socket(self) -> None:
        if self._socket_closed:
            return
        self._socket_closed = True
        loop = self._loop
        if self._reading:
            self._reading = False
            with contextlib.suppress(Exception):
                loop.remove_reader(self.fd)
        if self._writing:
            self._writing = False
            with contextlib.suppress(Exception):
                loop.remove_writer(self.fd)
        with contextlib.suppress(OSError):
            self.sock.close()
        self._tell(WebSocketClosed(1006, "connection closed"))
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)
        self.home.forget(self)

    def _tell(self, closed: WebSocketClosed) -> None:
        """Let the application know the WebSocket closed (the first reason wins)."""
        if self.closed_with is not None:
            return
        self.closed_with = closed
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self._inbox:
            waiter.set_result(closed)

    # -- input -------------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._reading and not self._socket_closed:
            self._reading = True
            self._loop.add_reader(self.fd, self._on_readable)

    def _resume_reading(self) -> None:
        """Read again once neither pause applies (a full inbox, unread output)."""
        if (
            not self._reading
            and self.phase in (OPEN, CLOSING)
            and not self._close_when_flushed
            and len(self._inbox) < INBOX_MAX
            and self._out_size <= INPUT_PAUSE_OUTPUT
        ):
            self._start_reading()

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self.fd)

    def _on_readable(self) -> None:
        sock = self.sock
        try:
            data = sock.recv(_RECV_SIZE)
            if self.tls:
                while sock.pending():  # type: ignore[attr-defined]
                    data += sock.recv(_RECV_SIZE)
        except RECV_WOULD_BLOCK:
            return
        except WOULD_BLOCK:  # TLS wants to write before it reads: rare, retry later
            return
        except OSError:
            self._lost()
            return
        if not data:
            if self.phase == CLOSED and self.closed_with is not None:
                self._close_socket()
            else:
                self._lost()
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        ws = self.ws
        if ws is None or ws.state not in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            return  # nothing more is expected: drop it
        self.last_input = time.monotonic()
        self._ping_sent = 0.0  # any input proves the peer is there
        ws.receive_data(data)
        limit = self.config.ws_max_message_bytes
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._parts.append(event.data)
                self._parts_size += len(event.data)
                if self._parts_size > limit:
                    self._parts = []
                    self._parts_size = 0
                    self._fail(1009, f"message larger than {limit} bytes")
                    return
                if event.message_finished:
                    parts, self._parts, self._parts_size = self._parts, [], 0
                    if isinstance(event, TextMessage):
                        message: str | bytes = parts[0] if len(parts) == 1 else "".join(parts)
                    else:
                        message = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
                    self.counts.messages_in += 1
                    self._deliver(message)
            elif isinstance(event, Ping):
                if ws.state is ConnectionState.OPEN:
                    self._write(ws.send(event.response()))
            elif isinstance(event, Pong):
                pass  # input already cleared the outstanding ping
            elif isinstance(event, CloseConnection):
                self._peer_closed(ws, event)
                return

    def _peer_closed(self, ws: WSConnection, event: CloseConnection) -> None:
        code = int(event.code)
        reason = event.reason or ""
        if ws.state is ConnectionState.REMOTE_CLOSING:
            # The peer closes: answer with its code (wsproto sends none for 1005).
            with contextlib.suppress(LocalProtocolError):
                self._write(ws.send(event.response()))
            self._tell(WebSocketClosed(code, reason))
        elif ws.state is ConnectionState.CLOSED:
            pass  # the answer to our close
        else:
            # wsproto could not parse the peer's frames (the event carries
            # why): close with that code, without waiting for an answer.
            with contextlib.suppress(LocalProtocolError):
                self._write(ws.send(CloseConnection(code=code, reason=reason or None)))
            self._tell(WebSocketClosed(code, reason))
        self._finish()

    def _deliver(self, message: str | bytes) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self._inbox:
            waiter.set_result(message)
            return
        self._inbox.append(message)
        if len(self._inbox) >= INBOX_MAX:
            self._stop_reading()  # the endpoint reads slower than the peer sends

    # -- output ------------------------------------------------------------------------

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        if self._socket_closed or not data:
            return
        if not self._out:
            try:
                sent = self.sock.send(data)
            except WOULD_BLOCK:
                sent = 0
            except OSError:
                self._lost()
                return
            if sent == len(data):
                return
            data = memoryview(bytes(data))[sent:]
        self._out.append(bytes(data) if isinstance(data, bytearray) else data)
        self._out_size += len(data)
        if self._out_size > INPUT_PAUSE_OUTPUT:
            # The peer does not read what it makes us send (pongs to a ping
            # flood, echoes): read nothing more until it does.
            self._stop_reading()
        if not self._writing:
            self._writing = True
            self._stalled_since = time.monotonic()
            self._loop.add_writer(self.fd, self._on_writable)

    def _on_writable(self) -> None:
        out = self._out
        sock = self.sock
        progressed = False
        while out:
            data = out[0]
            try:
                sent = sock.send(data)
            except WOULD_BLOCK:
                break
            except OSError:
                self._lost()
                return
            progressed = progressed or sent > 0
            self._out_size -= sent
            if sent == len(data):
                out.popleft()
            else:
                out[0] = memoryview(data)[sent:]
                break
        if progressed:
            self._stalled_since = time.monotonic()
        if self._out_size <= OUTPUT_HIGH_WATER:
            drained = self._drained
            if drained is not None:
                self._drained = None
                if not drained.done():
                    drained.set_result(None)
        if self._out_size <= OUTPUT_HIGH_WATER:
            self._resume_reading()  # output drained: read on
        if not out:
            self._writing = False
            self._stalled_since = 0.0
            self._loop.remove_writer(self.fd)
            if self._close_when_flushed:
                self._close_socket()

    # -- timers --------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Pings, the wait for the peer's close, stalled output (every 0.5 s)."""
        if self._socket_closed:
            return
        if (
            self._out
            and self._stalled_since
            and now - self._stalled_since > (self.config.write_timeout)
        ):
            self._lost()
            return
        if self.phase == CLOSING and now > self._close_deadline:
            self._finish()
            return
        if self.phase != OPEN:
            return
        interval = self.config.ws_ping_interval
        ws = self.ws
        if not interval or ws is None:
            return
        if self._ping_sent:
            if now - self._ping_sent > self.config.ws_ping_timeout:
                self._fail(1011, "keepalive ping timeout")
        elif now - self.last_input > interval:
            self._ping_sent = now
            self._write(ws.send(Ping(payload=b"barq")))

    def __repr__(self) -> str:
        return f"<ServerWebSocket fd={self.fd} {self.phase} {self._request.target}>"


def _header_value(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"a WebSocket handshake header must not contain CR, LF or NUL: {value!r}")
    return value
