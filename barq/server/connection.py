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
for ``EPOLLOUT``. While output is pending nothing more is read, so a client that
sends requests but never reads answers costs no worker and bounded memory.
"""

from __future__ import annotations

import socket
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
    "BODY",
    "HEADER",
    "KEEPALIVE",
    "LINGER",
    "WRITE",
    "ClientGone",
    "Connection",
]

# What the connection's deadline means when it passes (see Reactor._sweep).
KEEPALIVE = "keep-alive"  # idle between requests: close quietly
HEADER = "header"  # head incomplete: 408
BODY = "body"  # body stalled or too slow: 408
WRITE = "write"  # output made no progress: drop the connection
LINGER = "linger"  # closing: stop draining the peer's input


class ClientGone(Exception):
    """The peer closed or reset the connection while we were writing."""


class Connection:
    """State of one accepted socket (see the module docstring)."""

    __slots__ = (
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
    )

    def __init__(
        self,
        sock: socket.socket,
        peer: tuple[str, int] | None,
        local: tuple[str, int] | None,
        limits: Limits,
        keepalive_timeout: float,
        body_factory: Callable[[], BodySink] | None = None,
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.parser = RequestParser(limits, client=peer, server=local, body_factory=body_factory)
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
            except (BlockingIOError, InterruptedError):
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
