"""One client connection: its socket, parser, pending output and ownership state.

A connection is owned by exactly one party at a time:

- *armed* in the reactor's ready set — waiting to be readable (a request, or
  more of one) or, while output is pending, writable; the reactor may expire it;
- *held* by a worker (``lock`` taken) while it reads, runs the app and writes
  what the socket takes without blocking.

``lock`` is only contended when the reactor's sweep (timeouts, eviction) races
a worker for a connection whose deadline passed at the moment it became ready;
the reactor uses a non-blocking acquire, so workers never wait behind it.

Output never blocks a worker: :meth:`Connection.send_pending` writes what the
kernel accepts and keeps the rest; the connection then waits in the ready set
for room to write. While output is pending nothing more is read, so a client that
sends requests but never reads answers costs no worker and bounded memory.
"""

from __future__ import annotations

import platform
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from barq.http.parser import Limits, RequestParser

if TYPE_CHECKING:
    from barq.http.readers import BodySink
    from barq.server.output import Outgoing

__all__ = [
    "ARRIVAL_TIMESTAMPS",
    "BODY",
    "HEADER",
    "KEEPALIVE",
    "LINGER",
    "WRITE",
    "ClientGone",
    "Connection",
    "enable_arrival_timestamps",
    "receive_timestamped",
]

# What the connection's deadline means when it passes (see Reactor._sweep).
KEEPALIVE = "keep-alive"  # idle between requests: close quietly
HEADER = "header"  # head incomplete: 408
BODY = "body"  # body stalled or too slow: 408
WRITE = "write"  # output made no progress: drop the connection
LINGER = "linger"  # closing: stop draining the peer's input
HANDSHAKE = "handshake"  # TLS handshake not finished: close

try:
    import ssl as _ssl
except ImportError:  # pragma: no cover - Python built without OpenSSL
    _ssl = None  # type: ignore[assignment]

#: What a non-blocking socket raises when it cannot go on now; a TLS socket also
#: raises these when its protocol needs to read before writing or the reverse.
WOULD_BLOCK: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError)
#: A TLS socket that must read (resp. write) before it can continue.
WANT_READ: tuple[type[BaseException], ...] = ()
WANT_WRITE: tuple[type[BaseException], ...] = ()
if _ssl is not None:
    WANT_READ = (_ssl.SSLWantReadError,)
    WANT_WRITE = (_ssl.SSLWantWriteError,)
    WOULD_BLOCK = (*WOULD_BLOCK, *WANT_READ, *WANT_WRITE)
#: What a read that must wait for more input raises.
RECV_WOULD_BLOCK: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError, *WANT_READ)


# -- arrival timestamps (metrics: the wait before a worker picked a request up) --


def _timestamp_option() -> int | None:
    """Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS), which Python does not name:
    the kernel stamps each received segment (CLOCK_REALTIME) and hands the stamp
    of the last one read to recvmsg(). None elsewhere (macOS, the BSDs)."""
    named = getattr(socket, "SO_TIMESTAMPNS", None)
    if named is not None:
        return int(named)
    if sys.platform != "linux":
        return None
    # asm-generic value; alpha, parisc and sparc number their options differently.
    if platform.machine().lower().startswith(("alpha", "parisc", "sparc")):
        return None
    return 35


_SO_TIMESTAMPNS = _timestamp_option()
ARRIVAL_TIMESTAMPS = _SO_TIMESTAMPNS is not None
"""Whether this platform can say when a request's bytes arrived (see
:func:`receive_timestamped`)."""
_TIMESPEC = struct.Struct("@ll")  # struct timespec: tv_sec, tv_nsec
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if _SO_TIMESTAMPNS is not None else 0


def enable_arrival_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what ``sock`` receives; False where it cannot."""
    if _SO_TIMESTAMPNS is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def receive_timestamped(conn: Connection, size: int) -> bytes:
    """``conn.sock.recv(size)``, also setting ``conn.arrived_ns`` to the kernel's
    receive time of those bytes when it gives one (see
    :func:`enable_arrival_timestamps`). Costs a few microseconds more than a
    plain ``recv``, so workers call it only with metrics on."""
    data, ancillary, _flags, _address = conn.sock.recvmsg(size, _ANCILLARY_SIZE)
    conn.arrived_ns = 0
    if ancillary:
        _level, kind, stamp = ancillary[0]
        if kind == _SO_TIMESTAMPNS and len(stamp) == _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(stamp)
            conn.arrived_ns = seconds * 1_000_000_000 + nanoseconds
    elif conn.requests == 0:
        # Bytes that came with the connection, before stamping was switched on:
        # they have waited at least since the accept.
        conn.arrived_ns = conn.accepted_ns
    return data


class ClientGone(Exception):
    """The peer closed or reset the connection while we were writing."""


class Connection:
    """State of one accepted socket (see the module docstring)."""

    __slots__ = (
        "accepted_ns",
        "arrived_ns",
        "closed",
        "deadline",
        "deadline_kind",
        "fd",
        "idle_since",
        "lingering",
        "lock",
        "out",
        "out_size",
        "parser",
        "peer",
        "request_bytes",
        "request_started",
        "requests",
        "response",
        "resume",
        "sock",
        "tls",
    )

    def __init__(
        self,
        sock: socket.socket,
        peer: tuple[str, int] | None,
        local: tuple[str, int] | None,
        limits: Limits,
        keepalive_timeout: float,
        body_factory: Callable[[], BodySink] | None = None,
        *,
        tls: bool = False,
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        #: an :class:`ssl.SSLSocket` (its handshake runs first, see ``deadline_kind``)
        self.tls = tls
        self.parser = RequestParser(
            limits,
            client=peer,
            server=local,
            scheme="https" if tls else "http",
            body_factory=body_factory,
        )
        self.lock = threading.Lock()
        self.closed = False
        self.requests = 0
        now = time.monotonic()
        # A fresh connection must send its first request within the keep-alive
        # window, and complete its head within the header timeout after that.
        self.deadline = now + keepalive_timeout
        self.deadline_kind = KEEPALIVE
        self.idle_since = now
        #: when the first byte of the request now arriving came, and its bytes so far
        self.request_started = 0.0
        self.request_bytes = 0
        #: kernel receive time (``time.time_ns``) of the latest bytes read; 0 when
        #: the platform does not say, -1 when that read was not stamped (only read
        #: with metrics on: see :func:`receive_timestamped`)
        self.arrived_ns = 0
        #: when it was accepted (``time.time_ns``), with metrics on: the arrival
        #: of a first request that came before the kernel was asked to stamp
        self.accepted_ns = 0
        #: bytes accepted for sending but not sent yet
        self.out: deque[bytes | memoryview] = deque()
        self.out_size = 0
        #: the response being written (None between responses)
        self.response: Outgoing | None = None
        #: True once writes are shut down and the peer's input is only drained
        self.lingering = False
        #: True when a worker left pipelined requests buffered to give others a turn
        self.resume = False

    # -- output ---------------------------------------------------------------------

    def queue(self, data: bytes | memoryview) -> None:
        """Add bytes to send after what is pending."""
        if data:
            self.out.append(data)
            self.out_size += len(data)

    def send_pending(self) -> int:
        """Send queued bytes until done or the socket would block; returns bytes sent.

        Raises :class:`ClientGone` when the peer reset or closed the connection.
        """
        out = self.out
        sock = self.sock
        total = 0
        while out:
            data = out[0]
            try:
                sent = sock.send(data)
            except WOULD_BLOCK:
                break
            except OSError as exc:
                raise ClientGone() from exc
            total += sent
            if sent == len(data):
                out.popleft()
            else:
                out[0] = memoryview(data)[sent:]
                break
        self.out_size -= total
        return total

    def __repr__(self) -> str:
        return f"<Connection fd={self.fd} peer={self.peer}>"
