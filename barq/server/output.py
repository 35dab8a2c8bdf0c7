"""A response on its way out: its framing, what is left to produce, its accounting.

:func:`start_response` turns the application's :class:`~barq.http.messages.HTTPResponse`
into an :class:`Outgoing`: the head (and an in-memory body) queued on the
connection, plus what still has to be produced — the rest of a streamed body
(pulled one piece at a time, only when the socket has taken the previous ones)
or of a file (sent with ``sendfile`` as the socket accepts it). Workers call
:meth:`Outgoing.produce` whenever the connection is writable; nothing here
waits for the peer.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from barq.http.messages import HTTPRequest, HTTPResponse
from barq.http.semantics import body_allowed
from barq.http.serializer import (
    LAST_CHUNK,
    ResponseHeaderError,
    encode_chunk,
    error_response,
    response_head,
)
from barq.server.connection import WOULD_BLOCK, ClientGone, Connection

__all__ = ["Outgoing", "close_stream", "start_response"]

logger = logging.getLogger("barq.server")

#: Most bytes a file body is sent in per ``sendfile`` call.
_FILE_PIECE = 1 << 20
#: Without sendfile: most bytes read (and offered to the socket) at once.
_READ_PIECE = 256 * 1024
#: ``os.sendfile`` exists (Linux, macOS, BSD; not Windows). Cleared for good
#: when the system refuses it for sockets (errno in _NO_SENDFILE).
_SENDFILE = hasattr(os, "sendfile")
_PREAD = hasattr(os, "pread")
_NO_SENDFILE = frozenset(
    getattr(errno, name)
    for name in ("EINVAL", "ENOSYS", "ENOTSUP", "EOPNOTSUPP", "ENOTSOCK", "EAFNOSUPPORT")
    if hasattr(errno, name)
)


def _sendfile_unusable(exc: OSError) -> None:
    """The system will not sendfile to a socket: read and send from now on."""
    global _SENDFILE
    if _SENDFILE:
        _SENDFILE = False
        logger.info("sendfile is not usable here (%s): file bodies are read and sent", exc)


class Outgoing:
    """One response being written on a connection (see the module docstring)."""

    __slots__ = (
        "abort",
        "body_bytes",
        "bytes_in",
        "chunked",
        "declared",
        "done",
        "error",
        "file_fd",
        "file_left",
        "file_offset",
        "iterator",
        "keep",
        "on_complete",
        "queued_ns",
        "request",
        "sent",
        "start_ns",
        "status",
        "stream",
    )

    def __init__(
        self, request: HTTPRequest, status: int, keep: bool, start_ns: int, bytes_in: int
    ) -> None:
        self.request = request
        self.status = status
        self.keep = keep
        self.start_ns = start_ns
        self.bytes_in = bytes_in
        self.queued_ns = 0  # how long the request waited for a worker (metrics)
        self.sent = 0  # bytes written, head included
        self.error = False  # failed in a way the status does not show
        self.abort = False  # framing is broken: cut the connection, do not reuse it
        self.done = True  # nothing left to produce
        self.on_complete: Callable[[], Any] | None = None
        self.stream: Any = None  # the application's iterable (closed at the end)
        self.iterator: Iterator[Any] | None = None
        self.chunked = False
        self.declared: int | None = None
        self.body_bytes = 0
        self.file_fd = -1
        self.file_offset = 0
        self.file_left = 0

    def produce(self, conn: Connection) -> bool:
        """Add the next piece of the body (or send file bytes); False when the
        socket is full (wait for it to be writable). Sets :attr:`done` at the end."""
        if self.file_fd >= 0:
            return self._send_file(conn)
        iterator = self.iterator
        if iterator is None:
            self.done = True
            return True
        try:
            piece = next(iterator)
        except StopIteration:
            self._end_stream(conn)
            return True
        except Exception:
            # The head is out: all we can do is cut the connection so the
            # client sees an incomplete body rather than a truncated "success".
            request = self.request
            logger.exception(
                "error in streamed response body for %s %s", request.method, request.target
            )
            self.error = self.abort = True
            self.finish_stream()
            return True
        if piece:
            if isinstance(piece, str):
                piece = piece.encode("utf-8")
            self.body_bytes += len(piece)
            conn.queue(encode_chunk(piece) if self.chunked else piece)
        return True

    def _end_stream(self, conn: Connection) -> None:
        if self.chunked:
            conn.queue(LAST_CHUNK)
        elif self.declared is not None and self.body_bytes != self.declared:
            logger.error(
                "streamed body was %d bytes, content-length said %d", self.body_bytes, self.declared
            )
            self.abort = True
        self.finish_stream()

    def finish_stream(self) -> None:
        """Stop producing: close the application's iterable (its ``finally`` runs)."""
        self.iterator = None
        self.done = True
        stream, self.stream = self.stream, None
        if stream is not None:
            close_stream(stream)

    def _send_file(self, conn: Connection) -> bool:
        try:
            if _SENDFILE and not conn.tls:  # sendfile would bypass TLS
                try:
                    sent = os.sendfile(
                        conn.fd, self.file_fd, self.file_offset, min(self.file_left, _FILE_PIECE)
                    )
                except OSError as exc:
                    if exc.errno not in _NO_SENDFILE:
                        raise
                    _sendfile_unusable(exc)
                    sent = self._read_and_send(conn)
            else:
                sent = self._read_and_send(conn)
        except WOULD_BLOCK:
            return False
        except OSError as exc:
            raise ClientGone() from exc
        if sent == 0:  # the file shrank under us: framing is broken
            self.error = self.abort = True
            self.close_file()
            return True
        self.sent += sent
        self.file_offset += sent
        self.file_left -= sent
        if self.file_left <= 0:
            self.close_file()
        return True

    def _read_and_send(self, conn: Connection) -> int:
        """Without ``sendfile``: read a piece at the offset and send what the
        socket takes (the rest is read again next time)."""
        size = min(self.file_left, _READ_PIECE)
        if _PREAD:
            data = os.pread(self.file_fd, size, self.file_offset)
        else:  # Windows: the descriptor is this response's own, seeking is safe
            os.lseek(self.file_fd, self.file_offset, os.SEEK_SET)
            data = os.read(self.file_fd, size)
        if not data:
            return 0
        return conn.sock.send(data)

    def close_file(self) -> None:
        """Close the body's file (idempotent)."""
        if self.file_fd >= 0:
            fd, self.file_fd = self.file_fd, -1
            try:
                os.close(fd)
            except OSError:
                pass
        self.done = True

    def release(self) -> None:
        """Free what the response holds (stream, file) when it ends early."""
        self.finish_stream()
        self.close_file()


def close_stream(stream: Any) -> None:
    """Call a streamed body's ``close()`` (errors are logged)."""
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.exception("error while closing a streamed response body")


def start_response(
    conn: Connection,
    request: HTTPRequest,
    response: HTTPResponse,
    *,
    keep: bool,
    start_ns: int,
    bytes_in: int,
    server_header: str,
) -> Outgoing:
    """Queue ``response``'s head (and in-memory body) on ``conn`` and return what is
    left to produce. A response that cannot be framed is logged and replaced by 500."""
    status = response.status
    for name, value in response.headers:
        if value == "close" and name.lower() == "connection":
            keep = False
    out = Outgoing(request, status, keep, start_ns, bytes_in)
    out.on_complete = response.on_complete
    head_only = request.method == "HEAD" or not body_allowed(status)
    http10 = request.http_version == "1.0"
    try:
        if response.stream is not None:
            _start_stream(conn, out, response, head_only, http10, server_header)
        elif response.file is not None:
            _start_file(conn, out, response, head_only, http10, server_header)
        else:
            body = response.body
            head = response_head(
                status,
                response.headers,
                content_length=len(body) if body_allowed(status) else None,
                close=not out.keep,
                keep_alive_header=out.keep and http10,
                server=server_header,
            )
            if head_only or not body:
                conn.queue(head)
            elif len(body) <= 16384:
                conn.queue(head + body)  # one send for the usual small response
            else:
                conn.queue(head)
                conn.queue(body)
    except ResponseHeaderError as exc:
        logger.error("refusing to send response to %s %s: %s", request.method, request.target, exc)
        out.release()
        out.status = 500
        out.error = True
        out.keep = False
        conn.queue(error_response(500, "Internal Server Error", close=True, server=server_header))
    return out


def _start_stream(
    conn: Connection,
    out: Outgoing,
    response: HTTPResponse,
    head_only: bool,
    http10: bool,
    server_header: str,
) -> None:
    for name, value in response.headers:
        if name.lower() == "content-length":
            try:
                out.declared = int(value)
            except ValueError:
                out.declared = None
    # HTTP/1.0 has no chunked coding: delimit by closing the connection.
    # A HEAD response shows the framing a GET would get, without the body,
    # and leaves the connection open.
    out.chunked = out.declared is None and not http10 and body_allowed(response.status)
    if out.declared is None and not out.chunked and not head_only:
        out.keep = False
    out.stream = response.stream
    head = response_head(
        response.status,
        response.headers,
        content_length=out.declared,
        chunked=out.chunked,
        close=not out.keep,
        keep_alive_header=out.keep and http10,
        server=server_header,
    )
    conn.queue(head)
    if head_only:
        out.finish_stream()
        return
    assert response.stream is not None
    out.iterator = iter(response.stream)
    out.done = False


def _start_file(
    conn: Connection,
    out: Outgoing,
    response: HTTPResponse,
    head_only: bool,
    http10: bool,
    server_header: str,
) -> None:
    spec = response.file
    assert spec is not None
    try:
        fd = os.open(os.fspath(spec.path), os.O_RDONLY)
    except OSError as exc:
        logger.error("cannot open file for response: %s", exc)
        out.status = 404 if isinstance(exc, FileNotFoundError) else 500
        out.error = out.status == 500
        conn.queue(
            error_response(
                out.status, "file not available", close=not out.keep, server=server_header
            )
        )
        return
    try:
        size = os.fstat(fd).st_size
    except OSError:
        os.close(fd)
        raise
    offset = min(spec.offset, size)
    count = size - offset if spec.count is None else min(spec.count, size - offset)
    conn.queue(
        response_head(
            response.status,
            response.headers,
            content_length=count,
            close=not out.keep,
            keep_alive_header=out.keep and http10,
            server=server_header,
        )
    )
    if head_only or count == 0:
        os.close(fd)
        return
    out.file_fd = fd
    out.file_offset = offset
    out.file_left = count
    out.done = False
