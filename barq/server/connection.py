"""One client connection: its socket, parser and ownership state.

A connection is owned by exactly one party at a time:

- *armed* in the reactor's ready set (waiting for bytes, or readable and waiting
  in the kernel's ready list for a worker; the reactor may expire it), or
- *held* by a worker (``lock`` taken) while it reads, runs the app and writes.

``lock`` is only contended when the reactor's timeout sweep races a worker for a
connection whose deadline passed at the moment it became readable; the sweep
uses a non-blocking acquire, so workers never wait behind it for long.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time

from barq.http.parser import Limits, RequestParser

__all__ = ["Connection", "WriteTimeout", "send_all", "send_file"]

# What a deadline means when it passes (see Reactor._expire).
KEEPALIVE = 0  # idle between requests: close silently
HEADER = 1  # head incomplete: 408
BODY = 2  # body stalled: 408


class WriteTimeout(OSError):
    """The peer did not accept data within the write timeout."""


class Connection:
    """State of one accepted socket."""

    __slots__ = (
        "closed",
        "deadline",
        "deadline_kind",
        "fd",
        "lock",
        "parser",
        "peer",
        "requests",
        "sock",
    )

    def __init__(
        self,
        sock: socket.socket,
        peer: tuple[str, int] | None,
        local: tuple[str, int] | None,
        limits: Limits,
        keepalive_timeout: float,
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.parser = RequestParser(limits, client=peer, server=local)
        self.lock = threading.Lock()
        self.closed = False
        self.requests = 0
        # A fresh connection must send its first request within the keep-alive
        # window, and complete its head within the header timeout after that.
        self.deadline = time.monotonic() + keepalive_timeout
        self.deadline_kind = KEEPALIVE

    def __repr__(self) -> str:
        return f"<Connection fd={self.fd} peer={self.peer}>"


def _wait_writable(sock: socket.socket, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise WriteTimeout("write timed out")
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLOUT)
    if not poller.poll(remaining * 1000):
        raise WriteTimeout("write timed out")


def send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Write all of ``data`` to a non-blocking socket, waiting up to ``timeout``
    seconds whenever the peer stops reading."""
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    if sent == len(data):
        return
    view = memoryview(data)[sent:]
    deadline = time.monotonic() + timeout
    while view:
        _wait_writable(sock, deadline)
        try:
            sent = sock.send(view)
        except BlockingIOError:
            continue
        view = view[sent:]
        deadline = time.monotonic() + timeout


def send_file(sock: socket.socket, fileno: int, offset: int, count: int, timeout: float) -> int:
    """Send ``count`` bytes of a file with ``os.sendfile``; returns bytes sent."""
    total = 0
    deadline = time.monotonic() + timeout
    while total < count:
        try:
            sent = os.sendfile(sock.fileno(), fileno, offset + total, min(count - total, 1 << 20))
        except BlockingIOError:
            _wait_writable(sock, deadline)
            continue
        if sent == 0:  # the file shrank under us
            break
        total += sent
        deadline = time.monotonic() + timeout
    return total
