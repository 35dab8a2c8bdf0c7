"""Worker threads: read a ready connection, run the app on complete requests, reply.

An idle worker waits on the reactor's ready set (an epoll set of every open
connection, one-shot) and gets exactly one readable connection from the
kernel. It reads what the socket has (never blocking) and feeds the parser. If
no request is complete yet the connection goes straight back to the ready set,
so slow clients never hold a worker. Each complete request runs the application, and the response is
written before the next buffered (pipelined) request is looked at; then the
connection is re-armed in the reactor's epoll set.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from barq.http.errors import ProtocolError, RequestTimeout
from barq.http.messages import HTTPRequest, HTTPResponse
from barq.http.semantics import body_allowed
from barq.http.serializer import (
    LAST_CHUNK,
    ResponseHeaderError,
    encode_chunk,
    error_response,
    response_head,
)
from barq.server.connection import (
    BODY,
    HEADER,
    KEEPALIVE,
    Connection,
    send_all,
    send_file,
)

if TYPE_CHECKING:
    from barq.server.interfaces import WorkerMetrics
    from barq.server.server import Server

__all__ = ["Worker"]

logger = logging.getLogger("barq.server")
access_logger = logging.getLogger("barq.access")

_RECV_SIZE = 65536
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_INTERNAL_ERROR_BODY = b'{"detail":"Internal Server Error"}'


class _ClientGone(Exception):
    """The peer closed or reset the connection while we were writing."""


class Worker:
    """One worker thread (``<name>-worker-N``) and its private counters.

    It is the :class:`~barq.server.interfaces.WorkerState` its metrics recorder reads.
    """

    def __init__(self, server: Server, index: int) -> None:
        self.server = server
        self.index = index
        self.name = f"{server.config.name}-worker-{index}"
        # What this worker is doing (read by gauges, shutdown and metrics):
        # the request it is serving, or None, and since when (perf_counter_ns).
        self.current: HTTPRequest | None = None
        self.busy_since = 0
        # This thread's metrics recorder (see barq.server.interfaces), if any.
        self.recorder: WorkerMetrics | None = None
        self.rejected = 0  # requests refused by the parser (4xx/5xx before the app)
        # The configuration is frozen: read what every request needs once.
        self.config = server.config
        self.server_header = server.config.server_header
        self.access_log = server.config.access_log
        self.write_timeout = server.config.write_timeout
        self.thread = threading.Thread(target=self.run, name=self.name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- the loop ----------------------------------------------------------------

    def run(self) -> None:
        server = self.server
        reactor = server.reactor
        metrics = server.config.metrics
        if metrics is not None:
            self.recorder = metrics.worker(self.index, self.name, self)
        poll = reactor.ready_set.poll
        connections = reactor.connections
        stop_fd = reactor.stop_fd
        handle = self.handle
        while True:
            try:
                events = poll(-1, 1)  # wait for one readable connection
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
            try:
                data = conn.sock.recv(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                reactor.rearm(conn)
                return
            except OSError:
                reactor.close(conn)
                return
            if not data:
                reactor.close(conn)
                return
            parser = conn.parser
            was_partial = parser.has_partial_request
            parser.feed(data)
            config = self.config
            while True:
                try:
                    request = parser.next_request()
                except ProtocolError as exc:
                    self.rejected += 1
                    self._reject(conn, exc)
                    return
                if request is None:
                    break
                conn.requests += 1
                try:
                    keep = self.respond(conn, request, len(data))
                finally:
                    self.current = None
                data = b""
                if not keep or self.server.reactor.draining:
                    reactor.close(conn)
                    return
                was_partial = False
            # Waiting for more bytes: set the deadline that applies now.
            now = time.monotonic()
            if parser.reading_body:
                if parser.wants_continue:
                    try:
                        send_all(conn.sock, _CONTINUE, self.write_timeout)
                    except OSError:
                        reactor.close(conn)
                        return
                    parser.continue_sent()
                conn.deadline = now + config.body_timeout
                conn.deadline_kind = BODY
            elif parser.has_partial_request:
                if not was_partial or conn.deadline_kind != HEADER:
                    conn.deadline = now + config.header_timeout
                    conn.deadline_kind = HEADER
                elif now >= conn.deadline:
                    # A head trickling in byte by byte is readable whenever the
                    # reactor sweeps (so it skips it): enforce the deadline here.
                    self.rejected += 1
                    self._reject(conn, RequestTimeout("request timed out"))
                    return
            else:
                conn.deadline = now + config.keepalive_timeout
                conn.deadline_kind = KEEPALIVE
            reactor.rearm(conn)

    # -- responses -------------------------------------------------------------

    def _reject(self, conn: Connection, exc: ProtocolError) -> None:
        with contextlib.suppress(OSError):
            send_all(
                conn.sock, error_response(exc.status, exc.message, server=self.server_header), 1.0
            )
        if self.access_log and access_logger.isEnabledFor(logging.INFO):
            access_logger.info('%s - "<malformed request>" %d', _peer(conn), exc.status)
        self.server.reactor.close(conn)

    def respond(self, conn: Connection, request: HTTPRequest, bytes_in: int) -> bool:
        """Run the application and write its response; True to keep the connection."""
        server = self.server
        recorder = self.recorder
        start = self.busy_since = time.perf_counter_ns()
        self.current = request  # after busy_since: readers never see a stale start
        if recorder is not None:
            recorder.request_started(request, start)
        error = False
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
        keep = request.keep_alive
        status = response.status
        bytes_out = 0
        try:
            bytes_out, keep, status, error2 = self._write(conn, request, response, keep)
            error = error or error2
        except _ClientGone:
            keep = False
        except Exception:  # pragma: no cover - defensive: never kill the worker
            logger.exception("error while writing the response")
            keep = False
            error = True
        finally:
            callback = response.on_complete
            if callback is not None:
                _run_callback(callback)
        end = time.perf_counter_ns()
        if recorder is not None:
            recorder.request_finished(request, status, start, end, bytes_in, bytes_out, error)
        if self.access_log and access_logger.isEnabledFor(logging.INFO):
            access_logger.info(
                '%s - "%s %s HTTP/%s" %d %.1fms',
                _peer(conn),
                request.method,
                request.target,
                request.http_version,
                status,
                (end - start) / 1e6,
            )
        return keep

    def _write(
        self, conn: Connection, request: HTTPRequest, response: HTTPResponse, keep: bool
    ) -> tuple[int, bool, int, bool]:
        """Serialise and send; returns (bytes_out, keep, status, error)."""
        status = response.status
        headers = response.headers
        head_only = request.method == "HEAD" or not body_allowed(status)
        stream = response.stream
        file = response.file
        http10 = request.http_version == "1.0"
        for name, value in headers:
            if value == "close" and name.lower() == "connection":
                keep = False
        if self.server.reactor.draining:
            keep = False
        try:
            if stream is None and file is None:
                body = response.body
                length = len(body) if body_allowed(status) else None
                head = response_head(
                    status,
                    headers,
                    content_length=length,
                    close=not keep,
                    keep_alive_header=keep and http10,
                    server=self.server_header,
                )
                data = head if head_only else head + body
                self._send(conn, data)
                return len(data), keep, status, False
            if file is not None:
                return self._write_file(conn, response, head_only, keep, http10)
            return self._write_stream(conn, request, response, head_only, keep, http10)
        except ResponseHeaderError as exc:
            logger.error(
                "refusing to send response to %s %s: %s", request.method, request.target, exc
            )
            _close_stream(stream)
            data = error_response(
                500, "Internal Server Error", close=True, server=self.server_header
            )
            self._send(conn, data)
            return len(data), False, 500, True

    def _send(self, conn: Connection, data: bytes) -> None:
        try:
            send_all(conn.sock, data, self.write_timeout)
        except OSError as exc:
            raise _ClientGone() from exc

    def _write_stream(
        self,
        conn: Connection,
        request: HTTPRequest,
        response: HTTPResponse,
        head_only: bool,
        keep: bool,
        http10: bool,
    ) -> tuple[int, bool, int, bool]:
        stream = response.stream
        assert stream is not None
        declared: int | None = None
        for name, value in response.headers:
            if name.lower() == "content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        # HTTP/1.0 has no chunked coding: delimit by closing the connection.
        # A HEAD response shows the framing a GET would get, without the body,
        # and leaves the connection open.
        status = response.status
        chunked = declared is None and not http10 and body_allowed(status)
        if declared is None and not chunked and not head_only:
            keep = False
        head = response_head(
            response.status,
            response.headers,
            content_length=declared,
            chunked=chunked,
            close=not keep,
            keep_alive_header=keep and http10,
            server=self.server_header,
        )
        sent = len(head)
        self._send(conn, head)
        if head_only:
            _close_stream(stream)
            return sent, keep, response.status, False
        error = False
        body_bytes = 0
        try:
            for piece in stream:
                if not piece:
                    continue
                if isinstance(piece, str):
                    piece = piece.encode("utf-8")
                body_bytes += len(piece)
                data = encode_chunk(piece) if chunked else piece
                self._send(conn, data)
                sent += len(data)
            if chunked:
                self._send(conn, LAST_CHUNK)
                sent += len(LAST_CHUNK)
        except _ClientGone:
            raise
        except Exception:
            # The head is out: all we can do is cut the connection so the
            # client sees an incomplete body rather than a truncated "success".
            logger.exception(
                "error in streamed response body for %s %s", request.method, request.target
            )
            error = True
            keep = False
        finally:
            _close_stream(stream)
        if declared is not None and body_bytes != declared and not error:
            logger.error("streamed body was %d bytes, content-length said %d", body_bytes, declared)
            keep = False
        return sent, keep, response.status, error

    def _write_file(
        self, conn: Connection, response: HTTPResponse, head_only: bool, keep: bool, http10: bool
    ) -> tuple[int, bool, int, bool]:
        spec = response.file
        assert spec is not None
        try:
            fd = os.open(os.fspath(spec.path), os.O_RDONLY)
        except OSError as exc:
            logger.error("cannot open file for response: %s", exc)
            status = 404 if isinstance(exc, FileNotFoundError) else 500
            data = error_response(
                status, "file not available", close=not keep, server=self.server_header
            )
            self._send(conn, data)
            return len(data), keep, status, status == 500
        try:
            size = os.fstat(fd).st_size
            offset = min(spec.offset, size)
            count = size - offset if spec.count is None else min(spec.count, size - offset)
            head = response_head(
                response.status,
                response.headers,
                content_length=count,
                close=not keep,
                keep_alive_header=keep and http10,
                server=self.server_header,
            )
            self._send(conn, head)
            if head_only or count == 0:
                return len(head), keep, response.status, False
            try:
                sent = send_file(conn.sock, fd, offset, count, self.write_timeout)
            except OSError as exc:
                raise _ClientGone() from exc
            if sent != count:
                keep = False  # the file changed size: framing is broken, close
            return len(head) + sent, keep, response.status, sent != count
        finally:
            os.close(fd)


def _close_stream(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.exception("error while closing a streamed response body")


def _run_callback(callback: Callable[[], Any]) -> None:
    try:
        callback()
    except Exception:
        logger.error("error in response completion callback\n%s", traceback.format_exc())


def _peer(conn: Connection) -> str:
    if conn.peer is None:
        return "unix"
    return f"{conn.peer[0]}:{conn.peer[1]}"
