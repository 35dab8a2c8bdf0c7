"""Worker threads: read a ready connection, run the app on complete requests, reply.

An idle worker waits on the reactor's ready set (every open connection,
one-shot; see :mod:`barq.server.events`) and gets exactly one ready connection.

- *Readable*: it reads what the socket has (never blocking) and feeds the
  parser. If no request is complete yet the connection goes straight back to
  the ready set, so slow clients never hold a worker. Each complete request
  runs the application; its response is written as far as the socket takes it.
- *Output pending*: whatever the socket did not take (and the rest of a
  streamed or file body) waits on the connection, which goes back to the ready
  set to wait until it is writable; a worker continues when it is writable. No
  worker ever waits on a peer. Pipelined requests already buffered are answered
  in order once the previous response is out, and nothing more is read while
  output is pending.
- Closing: a connection the server closes while the peer may still be sending
  is *lingering*: writes are shut down (the client sees a clean end of the
  response) and its input is read and dropped for a moment before the socket
  is closed, so the response is not destroyed by a reset.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from barq.http.errors import BadRequest, ProtocolError, RequestTimeout
from barq.http.messages import HTTPRequest, HTTPResponse
from barq.http.serializer import error_response
from barq.server.connection import (
    ARRIVAL_TIMESTAMPS,
    BODY,
    HANDSHAKE,
    HEADER,
    KEEPALIVE,
    RECV_WOULD_BLOCK,
    WANT_READ,
    WANT_WRITE,
    WRITE,
    ClientGone,
    Connection,
    receive_timestamped,
)
from barq.server.events import wait_readable, wait_writable
from barq.server.output import start_response

if TYPE_CHECKING:
    from barq.server.interfaces import WorkerMetrics
    from barq.server.server import Server

__all__ = ["Worker"]

logger = logging.getLogger("barq.server")
access_logger = logging.getLogger("barq.access")

_RECV_SIZE = 65536
#: A longer wait for a worker than this means the wall clock was stepped.
_MAX_QUEUED_NS = 3600 * 1_000_000_000
#: With metrics on, a worker reads the kernel's arrival timestamp (a recvmsg(),
#: ~1.7 µs more than a recv() on a 2-core VM) on every read up to about one per
#: this many nanoseconds, and on every Nth read above that rate: one per
#: millisecond and worker is plenty for percentiles, and costs next to nothing
#: at 20k requests per second and thread.
_STAMP_PERIOD_NS = 1_000_000
#: The read rate that sets N is measured over windows of at least this long.
_STAMP_WINDOW_NS = 20_000_000
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_INTERNAL_ERROR_BODY = b'{"detail":"Internal Server Error"}'
_TOO_MANY_WEBSOCKETS_BODY = b'{"detail":"Too many open WebSockets: try again later"}'
#: Pipelined requests are only answered while less output than this is pending.
_OUTPUT_HIGH_WATER = 64 * 1024
#: Bytes one visit may write, and pipelined requests it may answer, before the
#: connection yields to others: it is re-armed for writing and, still writable,
#: comes back at the end of the kernel's ready list (round robin, no starvation).
_VISIT_BUDGET = 4 * 1024 * 1024
_VISIT_REQUESTS = 2
#: A lingering close drops at most this much of the peer's input.
_LINGER_MAX_BYTES = 1024 * 1024


class Worker:
    """One worker thread (``<name>-worker-N``) and its private counters.

    It is the :class:`~barq.server.interfaces.WorkerState` its metrics recorder reads.
    """

    def __init__(self, server: Server, index: int) -> None:
        self.server = server
        self.index = index
        self.name = f"{server.config.name}-worker-{index}"
        # What this worker is doing (read by gauges, shutdown and metrics):
        # the request it is running the application for, or None, and since
        # when (perf_counter_ns).
        self.current: HTTPRequest | None = None
        self.busy_since = 0
        # For utilisation (kept only with a recorder): when the thread started,
        # and (idle_ns, waiting_since) as one tuple, replaced whole.
        self.started_ns = 0
        self.idle = (0, 0)
        # Arrival timestamps (metrics): read on every `stamp_every`-th read, which
        # adapts so that about one read per _STAMP_PERIOD_NS is stamped.
        self.stamp_every = 1
        self.stamp_countdown = 1
        self.stamp_window = (0, 0)  # (when the rate window began, reads in it)
        # This thread's metrics recorder (see barq.server.interfaces), if any.
        self.recorder: WorkerMetrics | None = None
        self.rejected = 0  # requests refused by the parser (4xx/5xx before the app)
        # The configuration is frozen: read what every request needs once.
        config = server.config
        self.config = config
        self.server_header = config.server_header
        self.access_log = config.access_log
        self.write_timeout = config.write_timeout
        self.thread = threading.Thread(target=self.run, name=self.name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- the loop ----------------------------------------------------------------

    def run(self) -> None:
        server = self.server
        reactor = server.reactor
        metrics = server.config.metrics
        if metrics is not None:
            self.started_ns = time.perf_counter_ns()
            self.recorder = metrics.worker(self.index, self.name, self)
        poll = reactor.ready_set.poll
        connections = reactor.connections
        stop_fd = reactor.stop_fd
        handle = self.handle
        clock = time.perf_counter_ns
        idle_ns = 0
        while True:
            try:
                if self.recorder is None:
                    events = poll(-1, 1)  # wait for one ready connection
                else:
                    # The same, counting the time spent waiting. The clock is
                    # only read when there is a wait: a busy server (a ready
                    # connection already queued) pays nothing for utilisation.
                    events = poll(0, 1)
                    if not events:
                        since = clock()
                        self.idle = (idle_ns, since)
                        events = poll(-1, 1)
                        idle_ns += clock() - since
                        self.idle = (idle_ns, 0)
            except (OSError, ValueError):  # the ready set was closed: shutting down
                return
            for fd, _mask in events:
                conn = connections.get(fd)
                if conn is None:
                    if fd == stop_fd:
                        return
                    continue
                try:
                    handle(conn)
                except Exception:  # pragma: no cover - a bug in the server itself
                    logger.exception("unexpected error while serving %r", conn)
                    reactor.close(conn)

    def handle(self, conn: Connection) -> None:
        """Serve one readiness event of ``conn`` (runs on this worker thread)."""
        reactor = self.server.reactor
        with conn.lock:
            if conn.closed:
                return
            if conn.lingering:
                self._drain_lingering(conn)
                return
            if conn.tls and conn.deadline_kind == HANDSHAKE and not self._handshake(conn):
                return
            try:
                if conn.resume:
                    conn.resume = False
                    if not conn.out and conn.response is None:
                        self._serve_buffered(conn, 0)
                        return
                if conn.out or conn.response is not None:
                    # Writable again: continue the response, then any pipelined requests.
                    if not self._pump(conn):
                        self._wait_writable(conn)
                        return
                    if conn.response is not None and not self._finish(conn):
                        return
                    self._serve_buffered(conn, 0)
                    return
                try:
                    if self.recorder is None or not ARRIVAL_TIMESTAMPS or conn.tls:
                        data = conn.sock.recv(_RECV_SIZE)
                    else:
                        countdown = self.stamp_countdown - 1
                        if countdown > 0:
                            self.stamp_countdown = countdown
                            data = conn.sock.recv(_RECV_SIZE)
                            conn.arrived_ns = -1  # not measured for these bytes
                        else:
                            self._next_stamp()
                            data = receive_timestamped(conn, _RECV_SIZE)
                except RECV_WOULD_BLOCK:
                    reactor.rearm(conn)
                    return
                except WANT_WRITE:  # TLS must write before it can read on
                    reactor.rearm(conn, writable=True)
                    return
                except OSError:
                    reactor.close(conn)
                    return
                if not data:
                    reactor.close(conn)  # the peer closed: nothing to answer
                    return
                if conn.tls:
                    data = _tls_rest(conn, data)
                now = time.monotonic()
                parser = conn.parser
                if not parser.has_partial_request:
                    conn.request_started = now
                    conn.request_bytes = 0
                conn.request_bytes += len(data)
                parser.feed(data)
                self._serve_buffered(conn, len(data))
            except ClientGone:
                reactor.close(conn)

    def _handshake(self, conn: Connection) -> bool:
        """Advance the TLS handshake; True once it is done (go on reading).
        Waiting for the peer re-arms the connection; a failed handshake (plain
        HTTP to the TLS port, no shared protocol, a bad client certificate)
        closes it without an answer: there is no channel to answer on."""
        reactor = self.server.reactor
        try:
            conn.sock.do_handshake()  # type: ignore[attr-defined]
        except WANT_READ:
            reactor.rearm(conn)
            return False
        except WANT_WRITE:
            reactor.rearm(conn, writable=True)
            return False
        except (OSError, ValueError) as exc:
            self.rejected += 1
            logger.debug("TLS handshake with %s failed: %s", _peer(conn), exc)
            reactor.close(conn)
            return False
        now = time.monotonic()
        conn.idle_since = now
        conn.deadline = now + self.config.keepalive_timeout
        conn.deadline_kind = KEEPALIVE
        return True

    def _next_stamp(self) -> None:
        """A read is stamped now: count down to the next one. Once the rate
        window is long enough, N becomes the reads per :data:`_STAMP_PERIOD_NS`
        it saw (1 at low rates: every read is stamped)."""
        began, reads = self.stamp_window
        reads += self.stamp_every
        now = time.perf_counter_ns()
        elapsed = now - began
        if elapsed >= _STAMP_WINDOW_NS:
            self.stamp_every = max(1, min(1024, reads * _STAMP_PERIOD_NS // elapsed))
            self.stamp_window = (now, 0)
        else:
            self.stamp_window = (began, reads)
        self.stamp_countdown = self.stamp_every

    # -- requests ------------------------------------------------------------------

    def _serve_buffered(self, conn: Connection, bytes_in: int) -> None:
        """Answer the complete requests buffered on ``conn`` while output allows,
        then re-arm it for what comes next."""
        reactor = self.server.reactor
        parser = conn.parser
        budget = _VISIT_REQUESTS
        while conn.out_size < _OUTPUT_HIGH_WATER:
            if budget == 0 and parser.buffered:
                conn.resume = True  # more requests buffered: let others have a turn
                self._wait_writable(conn)
                return
            budget -= 1
            try:
                request = parser.next_request()
            except ProtocolError as exc:
                self.rejected += 1
                self._reject(conn, exc)
                return
            if request is None:
                break
            conn.requests += 1
            self.respond(conn, request, bytes_in)
            bytes_in = 0
            if conn.closed or conn.lingering:
                return
            if conn.response is not None or conn.out:
                self._wait_writable(conn)
                return
        else:
            self._wait_writable(conn)  # enough output pending: let it drain first
            return
        # Waiting for more bytes: set the deadline that applies now.
        now = time.monotonic()
        config = self.config
        if parser.reading_body:
            if parser.wants_continue:
                conn.queue(_CONTINUE)
                parser.continue_sent()
                conn.send_pending()
                if conn.out:
                    self._wait_writable(conn)
                    return
            if conn.deadline_kind != BODY:
                conn.deadline_kind = BODY
            conn.deadline = now + config.body_timeout
        elif parser.has_partial_request:
            if conn.deadline_kind != HEADER:
                conn.deadline = now + config.header_timeout
                conn.deadline_kind = HEADER
            elif now >= conn.deadline:
                # A head trickling in byte by byte is readable whenever the
                # reactor sweeps (so it skips it): enforce the deadline here.
                self.rejected += 1
                self._reject(conn, RequestTimeout("request timed out"))
                return
        else:
            conn.idle_since = now
            conn.deadline = now + config.keepalive_timeout
            conn.deadline_kind = KEEPALIVE
        if parser.has_partial_request and reactor.too_slow(conn, now):
            self.rejected += 1
            self._reject(conn, RequestTimeout("request too slow"))
            return
        reactor.rearm(conn)

    def respond(self, conn: Connection, request: HTTPRequest, bytes_in: int) -> None:
        """Run the application for ``request`` and start writing its response."""
        server = self.server
        recorder = self.recorder
        start = self.busy_since = time.perf_counter_ns()
        self.current = request  # after busy_since: readers never see a stale start
        queued = 0  # unknown: latency = service time
        if recorder is not None:
            arrived = conn.arrived_ns
            if arrived > 0:
                queued = time.time_ns() - arrived  # wall clock, as the kernel's stamp
                if not 0 < queued < _MAX_QUEUED_NS:  # the clock was stepped
                    queued = 0
            elif arrived < 0:
                queued = -1  # a read that was not stamped: not in the latency sample
            recorder.request_started(request, start)
        error = False
        stream = request.body_stream
        if stream is not None:
            stream.fill = lambda: self._fill_body(conn)
        try:
            response = server.app(request)
            if not isinstance(response, HTTPResponse):
                raise TypeError(f"application returned {type(response).__name__}, not HTTPResponse")
        except Exception:
            error = True
            logger.exception(
                "Exception in application while handling %s %s", request.method, request.target
            )
            response = HTTPResponse(
                500, [("content-type", "application/json")], _INTERNAL_ERROR_BODY
            )
        if response.upgrade is not None:
            if self._upgrade(conn, request, response, start):
                return
            error = True
            response = HTTPResponse(
                503,
                [("content-type", "application/json"), ("retry-after", "1")],
                _TOO_MANY_WEBSOCKETS_BODY,
            )
        keep = request.keep_alive and not server.reactor.draining
        if stream is not None:
            stream.fill = None
            if not stream.done:  # the app did not read it all: nothing more can be parsed
                stream.abandon()
                keep = False
        out = start_response(
            conn,
            request,
            response,
            keep=keep,
            start_ns=start,
            bytes_in=bytes_in,
            server_header=self.server_header,
        )
        out.error = out.error or error
        out.queued_ns = queued
        conn.response = out
        try:
            complete = self._pump(conn)
        except ClientGone:
            out.keep = False
            out.error = True
            self._finish(conn, gone=True)
            return
        finally:
            self.current = None
        if complete:
            self._finish(conn)

    def _upgrade(
        self, conn: Connection, request: HTTPRequest, response: HTTPResponse, start: int
    ) -> bool:
        """Hand a WebSocket handshake to the hub (see :mod:`barq.server.websockets`);
        False when ``max_websockets`` are open (or the server is stopping)."""
        server = self.server
        hub = server.websockets
        upgrade = response.upgrade
        assert upgrade is not None
        if not hub.reserve():
            return False
        server.reactor.detach(conn)
        rest = conn.parser.take_buffered()
        if conn.out:  # nothing should be pending; if it is, it goes first
            rest_out = b"".join(bytes(part) for part in conn.out)
            conn.out.clear()
            conn.out_size = 0
            try:
                conn.sock.sendall(rest_out)
            except OSError:
                pass
        hub.adopt(conn.sock, rest, request, upgrade, tls=conn.tls)
        self.current = None
        end = time.perf_counter_ns()
        recorder = self.recorder
        if recorder is not None:
            recorder.request_finished(request, 101, start, end, 0, 0, False, 0)
        if self.access_log and access_logger.isEnabledFor(logging.INFO):
            access_logger.info(
                '%s - "%s %s HTTP/%s" 101 (WebSocket) %.1fms',
                _peer(conn),
                request.method,
                request.target,
                request.http_version,
                (end - start) / 1e6,
            )
        return True

    def _fill_body(self, conn: Connection) -> None:
        """Wait for more of a streamed request body and feed it to the parser
        (the application is reading it on this thread). Answers ``100
        Continue`` first when the client waits for it. Raises
        :class:`RequestTimeout` when the client sends nothing for
        ``body_timeout`` (or breaks ``min_rate`` / ``request_timeout``), and
        :class:`BadRequest` when it goes away before the body is complete."""
        parser = conn.parser
        config = self.config
        if parser.wants_continue:
            conn.queue(_CONTINUE)
            parser.continue_sent()
            deadline = time.monotonic() + self.write_timeout
            while conn.out:
                try:
                    conn.send_pending()
                except ClientGone:
                    raise BadRequest("the client went away before sending the body") from None
                if conn.out and not wait_writable(conn.fd, deadline - time.monotonic()):
                    raise RequestTimeout("the client does not read the 100 Continue")
        sock = conn.sock
        pending = conn.tls and sock.pending()  # type: ignore[attr-defined]
        if not pending and not wait_readable(conn.fd, config.body_timeout):
            raise RequestTimeout("request body timed out")
        try:
            data = sock.recv(_RECV_SIZE)
        except RECV_WOULD_BLOCK:
            return  # woken without data (TLS records): the caller asks again
        except OSError:
            raise BadRequest("the connection broke before the body was complete") from None
        if not data:
            raise BadRequest("the client closed the connection before the body was complete")
        if conn.tls:
            data = _tls_rest(conn, data)
        conn.request_bytes += len(data)
        if self.server.reactor.too_slow(conn, time.monotonic()):
            raise RequestTimeout("request too slow")
        parser.feed(data)

    def _pump(self, conn: Connection) -> bool:
        """Write what the socket takes; True once the current response (if any) is
        complete, False when the socket is full (wait for it to be writable).
        Raises :class:`ClientGone`."""
        out = conn.response
        budget = _VISIT_BUDGET
        progressed = False
        while True:
            if conn.out:
                sent = conn.send_pending()
                if sent:
                    progressed = True
                    budget -= sent
                    if out is not None:
                        out.sent += sent
                if conn.out:
                    break
            if out is None or out.done:
                return True
            if budget <= 0:
                break
            before = out.sent
            if not out.produce(conn):
                break
            if out.sent != before:
                progressed = True
                budget -= out.sent - before
        if progressed or conn.deadline_kind != WRITE:
            conn.deadline = time.monotonic() + self.write_timeout
            conn.deadline_kind = WRITE
        return False

    def _finish(self, conn: Connection, *, gone: bool = False) -> bool:
        """The current response is complete (or failed): account for it. True when
        the connection stays open for the next request."""
        out = conn.response
        assert out is not None
        conn.response = None
        out.release()
        request = out.request
        callback = out.on_complete
        if callback is not None:
            _run_callback(callback)
        request.close_body()
        end = time.perf_counter_ns()
        recorder = self.recorder
        if recorder is not None:
            recorder.request_finished(
                request,
                out.status,
                out.start_ns,
                end,
                out.bytes_in,
                out.sent,
                out.error,
                out.queued_ns,
            )
        if self.access_log and access_logger.isEnabledFor(logging.INFO):
            access_logger.info(
                '%s - "%s %s HTTP/%s" %d %.1fms',
                _peer(conn),
                request.method,
                request.target,
                request.http_version,
                out.status,
                (end - out.start_ns) / 1e6,
            )
        reactor = self.server.reactor
        if gone or out.abort:
            reactor.close(conn)
            return False
        if not out.keep:
            self._close_gracefully(conn)
            return False
        # Kept open even if a shutdown began meanwhile: the client was told it may
        # reuse the connection, and its next request gets ``Connection: close``.
        return True

    # -- closing -------------------------------------------------------------------

    def _reject(self, conn: Connection, exc: ProtocolError) -> None:
        """Answer a request the parser refused, then close (lingering)."""
        conn.out.clear()
        conn.out_size = 0
        conn.queue(error_response(exc.status, exc.message, server=self.server_header))
        if self.access_log and access_logger.isEnabledFor(logging.INFO):
            access_logger.info('%s - "<malformed request>" %d', _peer(conn), exc.status)
        try:
            conn.send_pending()
        except ClientGone:
            self.server.reactor.close(conn)
            return
        self._close_gracefully(conn)

    def _close_gracefully(self, conn: Connection) -> None:
        """Close once pending output is out: shut writes down, drop input briefly."""
        reactor = self.server.reactor
        if conn.out:
            # Output still pending (a refusal to a client that does not read):
            # give it the write timeout, then the socket is closed.
            reactor.close_after_output(conn)
            return
        reactor.linger(conn)

    def _drain_lingering(self, conn: Connection) -> None:
        reactor = self.server.reactor
        if conn.out:
            try:
                conn.send_pending()
            except ClientGone:
                reactor.close(conn)
                return
            if conn.out:
                reactor.rearm(conn, writable=True)
                return
            reactor.linger(conn)
            return
        dropped = 0
        while dropped < _LINGER_MAX_BYTES:
            try:
                data = conn.sock.recv(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                reactor.rearm(conn)
                return
            except OSError:
                break
            if not data:
                break
            dropped += len(data)
        reactor.close(conn)

    def _wait_writable(self, conn: Connection) -> None:
        self.server.reactor.rearm(conn, writable=True)


def _tls_rest(conn: Connection, data: bytes) -> bytes:
    """A TLS socket may hold decrypted bytes beyond one read (the kernel then
    says nothing is waiting): take them too."""
    sock = conn.sock
    pending = sock.pending()  # type: ignore[attr-defined]
    if not pending:
        return data
    parts = [data]
    while pending:
        try:
            parts.append(sock.recv(max(pending, _RECV_SIZE)))
        except OSError:  # would block (all of those are OSErrors), or gone
            break
        pending = sock.pending()  # type: ignore[attr-defined]
    return b"".join(parts)


def _run_callback(callback: Callable[[], Any]) -> None:
    try:
        callback()
    except Exception:
        logger.error("error in response completion callback\n%s", traceback.format_exc())


def _peer(conn: Connection) -> str:
    if conn.peer is None:
        return "unix"
    return f"{conn.peer[0]}:{conn.peer[1]}"
