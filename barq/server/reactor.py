"""The reactor: owns the listeners, the epoll sets and every waiting connection.

Two epoll sets split the work by thread:

- the *control set* (listening sockets and a wake-up pipe) is polled only by
  the reactor thread (``barq-reactor``; ``<name>-reactor`` with
  ``ServerConfig(name=...)``). It accepts new connections, pausing at
  ``max_connections`` so that further clients wait in the kernel's listen
  backlog instead of growing memory, and every quarter second it expires
  deadlines: header timeout (408), body stall (408), keep-alive idle (silent
  close), and idle connections when draining for shutdown;
- the *ready set* holds every open connection, registered ``EPOLLONESHOT``.
  Idle worker threads wait on it directly (leader/followers): the kernel hands
  each readable connection to exactly one waiting worker, and keeps readable
  connections in its ready list, first come first served, while every worker is
  busy. A connection is disarmed while a worker holds it and re-armed with
  :meth:`Reactor.rearm` when the worker is done with it, so idle and
  slow connections cost no thread, and no request is handed between threads
  in user space (no queue, no extra wake-up per request).

The backlog of requests waiting for a worker is therefore the set of armed
connections that are readable; :meth:`Reactor.connection_states` counts them
with one ``poll()`` call when metrics ask.

Workers call :meth:`Reactor.rearm` and :meth:`Reactor.close`; both are safe from
any thread (epoll_ctl is thread-safe in the kernel, and the connection table is
only mutated under the rules documented on
:class:`~barq.server.connection.Connection`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
from typing import TYPE_CHECKING

from barq.http.serializer import error_response
from barq.server.connection import KEEPALIVE, Connection

if TYPE_CHECKING:
    from barq.server.config import ServerConfig

__all__ = ["Reactor"]

logger = logging.getLogger("barq.server")

_CONN_EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLONESHOT
_SWEEP_INTERVAL = 0.25


class Reactor:
    """Runs on the ``<name>-reactor`` thread (see module docstring)."""

    def __init__(self, config: ServerConfig, listeners: list[socket.socket]) -> None:
        self.config = config
        self.listeners = {sock.fileno(): sock for sock in listeners}
        self.limits = config.limits()
        self.epoll = select.epoll()  # control set: listeners + wake pipe
        self.ready_set = select.epoll()  # connections, one-shot: workers wait here
        self.connections: dict[int, Connection] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.epoll.register(self._wake_r, select.EPOLLIN)
        # Readable (level-triggered) once the workers must exit: wakes them all.
        self.stop_fd, self._stop_w = os.pipe()
        self.ready_set.register(self.stop_fd, select.EPOLLIN)
        self._accepting = False
        self._stopping = False
        self.draining = False
        self._drain_started = 0.0
        # Counters written only by the reactor thread.
        self.accepted = 0
        self.timed_out = 0
        self.sweeps = 0  # timeout sweeps done (tests wait on it instead of sleeping)
        self.thread: threading.Thread | None = None

    # -- control (any thread) --------------------------------------------------

    def start(self) -> None:
        self._set_accepting(True)
        self.thread = threading.Thread(
            target=self._run, name=f"{self.config.name}-reactor", daemon=True
        )
        self.thread.start()

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def stop_accepting(self) -> None:
        """Begin a graceful shutdown: no new connections, idle ones are closed."""
        self.draining = True
        self._drain_started = time.monotonic()
        self.wake()

    def release_workers(self) -> None:
        """Make every worker waiting on the ready set return (they exit)."""
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")

    def stop(self) -> None:
        """Stop the reactor thread and close every connection still open.

        Call :meth:`release_workers` (and join the workers) first.
        """
        self._stopping = True
        self.wake()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
        for conn in self._snapshot():
            self.close(conn)
        for fd in self.listeners:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(fd)
        with contextlib.suppress(OSError):
            self.epoll.close()
        with contextlib.suppress(OSError):
            self.ready_set.close()
        for fd in (self._wake_r, self._wake_w, self.stop_fd, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- called by workers -----------------------------------------------------

    def rearm(self, conn: Connection) -> None:
        """Give a connection back to the epoll set to wait for more bytes."""
        try:
            self.ready_set.modify(conn.fd, _CONN_EVENTS)
        except (OSError, ValueError):
            self.close(conn)

    def close(self, conn: Connection) -> None:
        """Forget and close a connection (idempotent, any thread).

        The entry leaves the table *before* the socket is closed, so the file
        descriptor number cannot be reused by a new connection while the old
        entry still names it.
        """
        if conn.closed:
            return
        conn.closed = True
        if self.connections.get(conn.fd) is conn:
            self.connections.pop(conn.fd, None)
        with contextlib.suppress(OSError, ValueError):
            self.ready_set.unregister(conn.fd)
        with contextlib.suppress(OSError):
            conn.sock.close()
        if self._accepting is False and not self.draining:
            self.wake()  # capacity freed: the reactor may resume accepting

    # -- reactor thread --------------------------------------------------------

    def _set_accepting(self, on: bool) -> None:
        if on == self._accepting:
            return
        for fd in self.listeners:
            try:
                if on:
                    self.epoll.register(fd, select.EPOLLIN)
                else:
                    self.epoll.unregister(fd)
            except OSError:
                pass
        self._accepting = on

    def _run(self) -> None:
        poll = self.epoll.poll
        listeners = self.listeners
        connections = self.connections
        wake_r = self._wake_r
        next_sweep = time.monotonic() + _SWEEP_INTERVAL
        while not self._stopping:
            try:
                events = poll(_SWEEP_INTERVAL)
            except InterruptedError:
                continue
            except OSError:
                if self._stopping:
                    break
                raise
            for fd, _mask in events:
                if fd in listeners:
                    self._accept(listeners[fd])
                elif fd == wake_r:
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 4096)
            if self.draining:
                if self._accepting:
                    self._set_accepting(False)
                    next_sweep = 0.0  # close idle connections now, not at the next tick
            elif len(connections) < self.config.max_connections:
                self._set_accepting(True)
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + _SWEEP_INTERVAL
                self._sweep(now)

    def _accept(self, listener: socket.socket) -> None:
        config = self.config
        connections = self.connections
        while len(connections) < config.max_connections:
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE/ENFILE and friends: stop accepting for a moment.
                logger.warning("accept() failed: %s", exc)
                return
            sock.setblocking(False)
            if sock.family != socket.AF_UNIX:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                peer = (addr[0], addr[1])
                local_name = sock.getsockname()
                local = (local_name[0], local_name[1])
            else:
                peer = None
                local = None
            conn = Connection(sock, peer, local, self.limits, config.keepalive_timeout)
            connections[conn.fd] = conn
            self.accepted += 1
            try:
                self.ready_set.register(conn.fd, _CONN_EVENTS)
            except OSError:
                self.close(conn)
        self._set_accepting(False)

    def _sweep(self, now: float) -> None:
        self.sweeps += 1
        draining = self.draining
        grace_over = draining and now - self._drain_started > self.config.graceful_timeout
        for conn in self._snapshot():
            if conn.closed:
                continue
            expired = now >= conn.deadline
            # Between two requests: when draining, close at once. A connection
            # that has not sent its first request yet is not idle: its client
            # connected to send one (its bytes may be a few microseconds away),
            # so it is served (with Connection: close) within the grace period.
            idle = conn.deadline_kind == KEEPALIVE and conn.requests > 0
            if not (expired or (draining and idle) or grace_over):
                continue
            if not conn.lock.acquire(blocking=False):
                continue  # a worker holds it: not ours to expire
            try:
                if conn.closed:
                    continue
                # Bytes (or EOF) already waiting means the connection sits in the
                # ready list for a worker: waiting for a busy server is not the
                # client's fault, so only a grace period that ran out closes it.
                if not grace_over and _readable(conn.fd):
                    continue
                if expired and conn.deadline_kind != KEEPALIVE:
                    # Slow or stalled request: tell the client why, then close.
                    self.timed_out += 1
                    with contextlib.suppress(OSError):
                        conn.sock.send(
                            error_response(
                                408, "request timed out", server=self.config.server_header
                            )
                        )
                self.close(conn)
            finally:
                conn.lock.release()

    def _snapshot(self) -> list[Connection]:
        """A copy of the connection table, safe against concurrent inserts/removals."""
        for _ in range(10):
            try:
                return list(self.connections.values())
            except RuntimeError:  # "dictionary changed size during iteration"
                continue
        return list(self.connections.copy().values())

    # -- gauges ----------------------------------------------------------------

    def connection_states(self) -> tuple[int, int]:
        """``(idle, queued)`` for metrics (a racy but consistent-enough reading).

        *queued*: connections no worker holds whose bytes are already waiting —
        requests waiting for a worker in the kernel's ready list. *idle*: the
        other connections no worker holds that sit between requests.
        """
        free = [conn for conn in self._snapshot() if not conn.closed and not conn.lock.locked()]
        if not free:
            return 0, 0
        poller = select.poll()
        for conn in free:
            poller.register(conn.fd, select.POLLIN)
        try:
            ready = {fd for fd, mask in poller.poll(0) if mask & (select.POLLIN | select.POLLHUP)}
        except OSError:
            ready = set()
        queued = sum(1 for conn in free if conn.fd in ready)
        idle = sum(1 for conn in free if conn.fd not in ready and conn.deadline_kind == KEEPALIVE)
        return idle, queued


def _readable(fd: int) -> bool:
    """True when ``fd`` has bytes (or EOF) waiting, without consuming anything."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return False
