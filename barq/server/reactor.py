"""The reactor: owns the listeners, the two event sets and every waiting connection.

Two event sets (made by the event backend, :mod:`barq.server.events`: epoll on
Linux, the standard ``selectors`` elsewhere) split the work by thread:

- the *control set* (listening sockets and a wake-up pipe) is polled only by
  the reactor thread (``barq-reactor``; ``<name>-reactor`` with
  ``ServerConfig(name=...)``). It accepts new connections and, four times a
  second, sweeps deadlines (below). At ``max_connections`` it makes room by
  *evicting* the connection that is least use to anyone — a lingering close, the
  longest idle keep-alive connection, then the slowest request that has been
  arriving for more than a second — and only when nothing can go does it stop
  accepting, so that further clients wait in the kernel's listen backlog;
- the *ready set* holds every open connection, one-shot: for input or, while
  output is pending, for room to write. Idle worker threads wait on it (with
  epoll directly, leader/followers): each ready connection goes to exactly one
  waiting worker and the others stay in the ready list, first come first
  served, while every worker is busy. A connection
  is disarmed while a worker holds it and re-armed with :meth:`Reactor.rearm`
  when the worker is done with it, so idle and slow connections — slow senders
  and slow readers alike — cost no thread, and no request is handed between
  threads in user space.

Deadlines (``Connection.deadline_kind``): a head not complete in
``header_timeout`` (408), a body stalled for ``body_timeout`` or a request
slower than ``min_rate`` or longer than ``request_timeout`` (408), output that
made no progress for ``write_timeout`` (dropped), idle keep-alive connections
after ``keepalive_timeout`` (closed quietly), lingering closes after a moment.

Graceful shutdown (:meth:`stop_accepting`): the reactor accepts what is already
in the backlog of the server's own listeners (those clients are served, with
``Connection: close``) and closes them without resetting a handshake under way;
inherited listeners it only stops polling (see :meth:`_release_listeners`). It
answers every request it has read or reads next with ``Connection: close``, and
closes a keep-alive connection only once it has been idle for a moment —
closing one that just finished a response would race its client's next request.

Workers call :meth:`rearm`, :meth:`linger`, :meth:`close_after_output` and
:meth:`close`; all are safe from any thread (the ready set's methods are, see
:mod:`barq.server.events`, and the connection table is only mutated under the
rules documented on :class:`~barq.server.connection.Connection`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from barq.http.serializer import error_response
from barq.server.connection import (
    BODY,
    HANDSHAKE,
    HEADER,
    KEEPALIVE,
    LINGER,
    WRITE,
    Connection,
    enable_arrival_timestamps,
)
from barq.server.events import EventBackend, Waker, make_backend, readable, readable_among
from barq.server.listeners import refuse_new_handshakes

if TYPE_CHECKING:
    import ssl

    from barq.http.messages import HTTPRequest
    from barq.server.config import ServerConfig

__all__ = ["Reactor"]

logger = logging.getLogger("barq.server")

_SWEEP_INTERVAL = 0.25
#: How long a lingering close drains the peer's input before closing.
LINGER_S = 2.0
#: While draining for shutdown, a keep-alive connection idle this long is closed
#: (a client that sends request after request reuses its connection well within it).
DRAIN_IDLE_S = 0.25
#: At shutdown, a listener that ignores new SYNs is closed once its backlog has
#: stayed empty this long (handshakes under way complete meanwhile) — SETTLE_S
#: when the server accepted a connection since the last sweep, SETTLE_IDLE_S
#: when it did not — polled every SETTLE_POLL_S, and after SETTLE_MAX_S at most.
SETTLE_S = 0.03
SETTLE_IDLE_S = 0.005
SETTLE_POLL_S = 0.005
SETTLE_MAX_S = 0.5
#: How often deadlines are swept while draining.
_DRAIN_SWEEP_INTERVAL = 0.05
#: A request is not judged by ``min_rate`` before it has been arriving this long.
RATE_GRACE_S = 5.0
#: Under connection pressure a request arriving for less than this is never evicted.
EVICT_MIN_AGE_S = 1.0
#: Unsent bytes the kernel may hold for one connection (TCP_NOTSENT_LOWAT): a
#: peer that stops reading makes writes wait (writable is only reported below it)
#: after this much, instead of after the 4 MB an autotuned send buffer takes.
NOTSENT_LOWAT = 64 * 1024
#: Set once the select backend's connection cap was reported (see Reactor).
_capped_warned: list[bool] = []
#: Windows has no Unix sockets (the attribute is missing there).
_AF_UNIX = getattr(socket, "AF_UNIX", None)


class Reactor:
    """Runs on the ``<name>-reactor`` thread (see module docstring)."""

    def __init__(
        self,
        config: ServerConfig,
        listeners: list[socket.socket],
        owned: list[socket.socket] | None = None,
        backend: EventBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        #: the listeners this reactor closes itself at shutdown, the moment their
        #: backlog is accepted (the server's own; inherited ones stay open)
        self._owned = list(owned or ())
        self.listeners = {sock.fileno(): sock for sock in listeners}
        self.limits = config.limits()
        #: the TLS context (HTTPS), or None; handshakes run on the workers
        self.ssl_context = ssl_context
        self.backend = backend if backend is not None else make_backend(config.event_backend)
        self.control = self.backend.control_set()  # listeners + wake-up: this thread only
        # connections, one-shot: workers wait here
        self.ready_set = self.backend.ready_set(config.name)
        self._read_events = self.ready_set.READ
        self._write_events = self.ready_set.WRITE
        self._modify = self.ready_set.modify
        #: config.max_connections, or less where the backend cannot watch as many
        self.max_connections = config.max_connections
        limit = self.backend.max_connections
        if limit is not None and self.max_connections > limit:
            if not _capped_warned:  # once per process (a stats endpoint is a server too)
                _capped_warned.append(True)
                logger.warning(
                    "the event backend (%s) watches at most %d connections: max_connections "
                    "lowered from %d (use poll or kqueue for more)",
                    self.backend.detail, limit, self.max_connections,
                )  # fmt: skip
            self.max_connections = limit
        self.connections: dict[int, Connection] = {}
        #: the application's ``streams_body`` (set by the server), given to each
        #: connection's parser: which request bodies are read as they arrive
        self.stream_decider: Callable[[HTTPRequest], bool] | None = None
        self._waker = Waker()
        self.control.register(self._waker.fileno())
        #: what the ready set's poll returns to every worker once they must exit
        self.stop_fd = self.ready_set.stop_fd
        self._accepting = False
        self._stopping = False
        self.draining = False
        self._drain_started = 0.0
        #: set by the reactor thread once it no longer polls the listeners
        self.listeners_released = threading.Event()
        # Counters written only by the reactor thread.
        self.accepted = 0
        self._accepted_at_sweep = 0  # self.accepted at the last sweep
        self.timed_out = 0
        self.evicted = 0
        self.refused = 0
        self.sweeps = 0  # timeout sweeps done (tests wait on it instead of sleeping)
        self._victims: list[Connection] = []
        self._victims_built = 0.0
        # Connections per client address, kept only with max_connections_per_client.
        self._per_client: dict[str, int] = {}
        self._per_client_lock = threading.Lock()
        self.thread: threading.Thread | None = None

    # -- control (any thread) --------------------------------------------------

    def start(self) -> None:
        self._set_accepting(True)
        self.thread = threading.Thread(
            target=self._run, name=f"{self.config.name}-reactor", daemon=True
        )
        self.thread.start()

    def wake(self) -> None:
        self._waker.wake()

    def stop_accepting(self) -> None:
        """Begin a graceful shutdown (see the module docstring)."""
        if not self.draining:
            self._drain_started = time.monotonic()
            self.draining = True
        self.wake()

    def release_workers(self) -> None:
        """Make every worker waiting on the ready set return (they exit)."""
        self.ready_set.release_all()

    def stop(self) -> None:
        """Stop the reactor thread and close every connection still open.

        Call :meth:`release_workers` (and join the workers) first.
        """
        self._stopping = True
        self.wake()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
        for conn in self._snapshot():
            if conn.lingering and not conn.out:
                _drop_input(conn.sock)  # what already arrived: closing then sends no reset
            self.close(conn)
        for fd in self.listeners:
            with contextlib.suppress(OSError, ValueError):
                self.control.unregister(fd)
        self.control.close()
        self.ready_set.close()
        self._waker.close()

    def all_answered(self) -> bool:
        """True when no connection is left but lingering closes (whose responses
        are out): a stopping server need not wait for those."""
        return all(conn.lingering and not conn.out for conn in self._snapshot())

    # -- called by workers -----------------------------------------------------

    def rearm(self, conn: Connection, *, writable: bool = False) -> None:
        """Give a connection back to the ready set: to wait for input or, with
        ``writable``, for room to write its pending output."""
        try:
            self._modify(conn.fd, self._write_events if writable else self._read_events)
        except (OSError, ValueError):
            self.close(conn)

    def linger(self, conn: Connection) -> None:
        """Close ``conn`` gracefully: shut down writes (the peer sees the end of our
        output), then read and drop its input for up to :data:`LINGER_S` before
        closing, so that data still arriving does not make the kernel reset the
        connection and destroy the response in the peer's buffer."""
        if conn.closed:
            return
        if conn.tls:
            _close_notify(conn.sock)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.lingering = True
        conn.deadline = time.monotonic() + LINGER_S
        conn.deadline_kind = LINGER
        self.rearm(conn)

    def close_after_output(self, conn: Connection) -> None:
        """Send what is pending (within the write timeout), then :meth:`linger`."""
        conn.lingering = True
        conn.deadline = time.monotonic() + self.config.write_timeout
        conn.deadline_kind = WRITE
        self.rearm(conn, writable=True)

    def close(self, conn: Connection) -> None:
        """Forget and close a connection at once (idempotent, any thread).

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
        response = conn.response
        if response is not None:
            conn.response = None
            response.release()
        self._forget_client(conn)

    def detach(self, conn: Connection) -> None:
        """Forget ``conn`` without closing its socket (a worker hands an upgraded
        connection to the WebSocket hub): it leaves the table and the ready set."""
        if conn.closed:
            return
        conn.closed = True  # for the reactor's sweep: no longer ours
        if self.connections.get(conn.fd) is conn:
            self.connections.pop(conn.fd, None)
        with contextlib.suppress(OSError, ValueError):
            self.ready_set.unregister(conn.fd)
        self._forget_client(conn)

    def _forget_client(self, conn: Connection) -> None:
        if self.config.max_connections_per_client and conn.peer is not None:
            with self._per_client_lock:
                left = self._per_client.get(conn.peer[0], 1) - 1
                if left > 0:
                    self._per_client[conn.peer[0]] = left
                else:
                    self._per_client.pop(conn.peer[0], None)
        if self._accepting is False and not self.draining:
            self.wake()  # capacity freed: the reactor may resume accepting

    def too_slow(self, conn: Connection, now: float) -> bool:
        """Whether the request arriving on ``conn`` broke ``request_timeout`` or
        ``min_rate`` (a request is judged by its rate after :data:`RATE_GRACE_S`)."""
        config = self.config
        elapsed = now - conn.request_started
        if elapsed > config.request_timeout:
            return True
        min_rate = config.min_rate
        return bool(min_rate) and elapsed > RATE_GRACE_S and conn.request_bytes < min_rate * elapsed

    # -- reactor thread --------------------------------------------------------

    def _set_accepting(self, on: bool) -> None:
        if on == self._accepting:
            return
        for fd in self.listeners:
            try:
                if on:
                    self.control.register(fd)
                else:
                    self.control.unregister(fd)
            except OSError:
                pass
        self._accepting = on

    def _run(self) -> None:
        poll = self.control.poll
        listeners = self.listeners
        connections = self.connections
        wake_r = self._waker.fileno()
        next_sweep = time.monotonic() + _SWEEP_INTERVAL
        while not self._stopping:
            try:
                events = poll(_DRAIN_SWEEP_INTERVAL if self.draining else _SWEEP_INTERVAL)
            except InterruptedError:
                continue
            except OSError:
                if self._stopping:
                    break
                raise
            for fd, _mask in events:
                if fd in listeners:
                    if not self.draining:
                        self._accept(listeners[fd])
                elif fd == wake_r:
                    self._waker.drain()
            if self.draining:
                if not self.listeners_released.is_set():
                    self._release_listeners()
                    next_sweep = 0.0  # close idle connections now, not at the next tick
            elif len(connections) < self.max_connections:
                self._set_accepting(True)
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + (_DRAIN_SWEEP_INTERVAL if self.draining else _SWEEP_INTERVAL)
                self._sweep(now)
                if not self.draining and not self._accepting:
                    # At the cap: connections may have become evictable since
                    # (idle, or old enough): look at the backlog again.
                    self._set_accepting(True)

    def _release_listeners(self) -> None:
        """Stop polling the listeners, accept what waits in their backlogs, and
        close the server's own listeners without resetting anyone.

        A client whose handshake completes between the last ``accept`` and the
        close is reset by the kernel: it connected, sent its request and gets no
        answer. On loopback under load the handshake's last step may be
        processed milliseconds after the client's ``connect()`` returned, so
        closing right after an empty ``accept`` is not enough. On Linux a filter
        first makes the socket ignore new SYNs (those clients retry a second
        later and are refused: they know nothing was sent), then the backlog is
        accepted until it has stayed empty for :data:`SETTLE_S` (a few
        milliseconds when nobody connected lately), then the socket is closed.
        Elsewhere (and for Unix sockets, whose path the server has already
        unlinked) the close follows the last ``accept`` at once.
        Inherited listeners stay open in their owner (``barq dev``'s supervisor,
        a socket-activating init): only polling stops for them, and what waits in
        their backlog is left to the next process that serves them — accepting it
        here would only keep a stopping server busy with clients, with old code,
        for as long as they keep arriving.
        """
        self._set_accepting(False)
        owned = [sock for sock in self._owned if sock.fileno() in self.listeners]
        settling = [sock for sock in owned if refuse_new_handshakes(sock)]
        for listener in owned:
            self._accept(listener, backlog_only=True)
            if listener not in settling:
                _close_quietly(listener)
        if settling:
            # Connections arriving lately: a handshake may be half done.
            settle = SETTLE_S if self.accepted != self._accepted_at_sweep else SETTLE_IDLE_S
            quiet_since = time.monotonic()
            give_up = quiet_since + SETTLE_MAX_S
            while True:
                before = self.accepted
                time.sleep(SETTLE_POLL_S)
                for listener in settling:
                    self._accept(listener, backlog_only=True)
                now = time.monotonic()
                if self.accepted != before:
                    quiet_since = now
                elif now - quiet_since >= settle or now >= give_up:
                    break
            for listener in settling:
                self._accept(listener, backlog_only=True)
                _close_quietly(listener)
        self.listeners_released.set()

    def _accept(self, listener: socket.socket, *, backlog_only: bool = False) -> None:
        config = self.config
        connections = self.connections
        per_client = config.max_connections_per_client
        timestamps = config.metrics is not None
        while True:
            if len(connections) >= self.max_connections and not backlog_only:
                if not readable(listener.fileno()):
                    return  # nobody waiting: nothing to make room for
                if not self._evict_one(time.monotonic()):
                    self._set_accepting(False)
                    return
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE/ENFILE and friends: stop accepting for a moment.
                logger.warning("accept() failed: %s", exc)
                return
            sock.setblocking(False)
            if sock.family != _AF_UNIX:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with contextlib.suppress(OSError, AttributeError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
                if timestamps and self.ssl_context is None:  # metrics: time waiting for a worker
                    enable_arrival_timestamps(sock)
                peer = (addr[0], addr[1])
                local_name = sock.getsockname()
                local = (local_name[0], local_name[1])
            else:
                peer = None
                local = None
            if per_client and peer is not None and not self._admit_client(peer[0], per_client):
                self._refuse(sock)
                continue
            tls = self.ssl_context is not None
            if tls:
                # Only the TLS state is made here; the handshake runs on a worker
                # when the client's hello arrives (a silent client costs nothing).
                try:
                    sock = self.ssl_context.wrap_socket(  # type: ignore[union-attr]
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                except OSError:
                    with contextlib.suppress(OSError):
                        sock.close()
                    continue
            conn = Connection(
                sock,
                peer,
                local,
                self.limits,
                config.keepalive_timeout,
                config.body_factory(),
                tls=tls,
            )
            conn.parser.stream_decider = self.stream_decider
            if tls:
                conn.deadline = time.monotonic() + config.handshake_timeout
                conn.deadline_kind = HANDSHAKE
            if timestamps:
                conn.accepted_ns = time.time_ns()
            connections[conn.fd] = conn
            self.accepted += 1
            try:
                self.ready_set.register(conn.fd, self._read_events)
            except (OSError, ValueError):
                self.close(conn)

    def _admit_client(self, host: str, limit: int) -> bool:
        with self._per_client_lock:
            count = self._per_client.get(host, 0)
            if count >= limit:
                return False
            self._per_client[host] = count + 1
            return True

    def _refuse(self, sock: socket.socket) -> None:
        """Answer a connection over its client's limit with 503 and close it
        (with TLS just close it: no handshake is spent on a refusal)."""
        self.refused += 1
        if self.ssl_context is not None:
            with contextlib.suppress(OSError):
                sock.close()
            return
        with contextlib.suppress(OSError):
            sock.send(
                error_response(
                    503, "too many connections from this address", server=self.config.server_header
                )
            )
            sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            sock.close()

    # -- eviction under connection pressure ----------------------------------------

    def _evict_one(self, now: float) -> bool:
        """Close the least useful connection to make room; False if none can go."""
        for _ in range(2):
            victims = self._victims
            while victims:
                conn = victims.pop()
                if self._try_evict(conn, now):
                    self.evicted += 1
                    return True
            if now - self._victims_built < 0.05:
                return False  # just looked: nothing can go yet
            self._build_victims(now)
        return False

    def _build_victims(self, now: float) -> None:
        """Rank the connections no worker holds, best victim last (popped first)."""
        ranked: list[tuple[int, float, Connection]] = []
        for conn in self._snapshot():
            if conn.closed or conn.lock.locked() or conn.response is not None:
                continue
            if conn.lingering:
                ranked.append((0, 0.0, conn))
            elif conn.out:
                continue
            elif conn.deadline_kind == HANDSHAKE:  # connected, TLS not finished
                if now - conn.idle_since >= EVICT_MIN_AGE_S:
                    ranked.append((2, conn.idle_since, conn))
            elif conn.deadline_kind == KEEPALIVE and not conn.parser.has_partial_request:
                if conn.requests:
                    ranked.append((1, conn.idle_since, conn))
                elif now - conn.idle_since >= EVICT_MIN_AGE_S:
                    ranked.append((2, conn.idle_since, conn))  # connected, sent nothing
            else:
                age = now - conn.request_started
                if age >= EVICT_MIN_AGE_S:
                    ranked.append((3, conn.request_bytes / age, conn))
        ranked.sort(key=lambda item: (item[0], item[1]), reverse=True)
        self._victims = [conn for _, _, conn in ranked]
        self._victims_built = now

    def _try_evict(self, conn: Connection, now: float) -> bool:
        if conn.closed or not conn.lock.acquire(blocking=False):
            return False
        try:
            if conn.closed or conn.response is not None or (conn.out and not conn.lingering):
                return False
            if not conn.lingering and conn.parser.has_partial_request:
                with contextlib.suppress(OSError):
                    conn.sock.send(
                        error_response(
                            408,
                            "request too slow for a busy server",
                            server=self.config.server_header,
                        )
                    )
            self.close(conn)
            return True
        finally:
            conn.lock.release()

    # -- deadlines -------------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        self.sweeps += 1
        self._accepted_at_sweep = self.accepted
        draining = self.draining
        grace_over = draining and now - self._drain_started > self.config.graceful_timeout
        for conn in self._snapshot():
            if conn.closed:
                continue
            kind = conn.deadline_kind
            expired = now >= conn.deadline
            # Between two requests while draining: close once idle a moment. A
            # connection that has not sent its first request yet is not idle:
            # its client connected to send one (its bytes may be microseconds
            # away), so it is served (with Connection: close) within the grace.
            idle_drain = (
                draining
                and kind == KEEPALIVE
                and conn.requests > 0
                and now - conn.idle_since >= DRAIN_IDLE_S
            )
            slow = kind in (HEADER, BODY) and self.too_slow(conn, now)
            if not (expired or idle_drain or slow or grace_over):
                continue
            if not conn.lock.acquire(blocking=False):
                continue  # a worker holds it: not ours to expire
            try:
                if conn.closed:
                    continue
                if grace_over or kind in (WRITE, LINGER, HANDSHAKE):
                    if (kind == WRITE and not conn.lingering) or kind == HANDSHAKE:
                        self.timed_out += 1
                    self.close(conn)
                    continue
                # Bytes (or EOF) already waiting means the connection sits in the
                # ready list for a worker: waiting for a busy server is not the
                # client's fault.
                if readable(conn.fd):
                    continue
                if kind == KEEPALIVE:
                    self.linger(conn)
                    continue
                # Slow or stalled request: tell the client why, then close.
                self.timed_out += 1
                with contextlib.suppress(OSError):
                    conn.sock.send(
                        error_response(408, "request timed out", server=self.config.server_header)
                    )
                self.linger(conn)
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
        ready = readable_among(conn.fd for conn in free)
        queued = sum(1 for conn in free if conn.fd in ready and not conn.out)
        idle = sum(1 for conn in free if conn.fd not in ready and conn.deadline_kind == KEEPALIVE)
        return idle, queued


def _close_notify(sock: socket.socket) -> None:
    """Send TLS's close_notify, best effort and without waiting for the peer's
    (the HTTP framing already tells the client where the response ends)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sock.unwrap()  # type: ignore[attr-defined]


def _drop_input(sock: socket.socket) -> None:
    """Read and drop whatever the peer has sent so far (never blocks)."""
    with contextlib.suppress(OSError):
        for _ in range(16):
            if not sock.recv(65536):
                return


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
