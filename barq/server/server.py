"""The Server: listeners + reactor thread + worker threads + lifespan + signals."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

from barq.http.messages import Application
from barq.runtime import describe_interpreter, warn_if_gil_reenabled
from barq.server.config import ServerConfig
from barq.server.connection import ARRIVAL_TIMESTAMPS
from barq.server.listeners import bind_listeners, describe_listener
from barq.server.reactor import Reactor
from barq.server.websockets import WebSocketHub
from barq.server.worker import Worker

__all__ = ["Server", "StartupError", "serve"]

logger = logging.getLogger("barq.server")


class StartupError(RuntimeError):
    """The application's startup hook failed; the server did not start."""


class Server:
    """An HTTP/1.1 server running ``app`` on a pool of worker threads.

    ``app`` is any :class:`~barq.http.messages.Application`, a callable
    ``(HTTPRequest) -> HTTPResponse``; its optional ``startup()``/``shutdown()``
    methods run once around serving. The server is the
    :class:`~barq.server.interfaces.ServerView` its metrics sink reads.
    """

    def __init__(
        self, app: Application, config: ServerConfig | None = None, **options: Any
    ) -> None:
        config = config or ServerConfig()
        if options:
            config = config.with_options(**options)
        config.validate()
        #: the TLS context, loaded now so that a bad certificate fails here
        self.ssl_context = config.ssl_context()
        self.app = app
        self.config = config
        self.listeners: list[socket.socket] = []
        self._owned: list[socket.socket] = []
        self._unlinked = False  # Unix socket paths removed (at shutdown)
        self.reactor: Reactor = None  # type: ignore[assignment]  # set by start()
        self.workers: list[Worker] = []
        #: upgraded connections (WebSockets): their own loop threads, started on first use
        self.websockets = WebSocketHub(config)
        self._started = False
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._listeners_lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._signal_count = 0

    # -- lifecycle -------------------------------------------------------------

    @property
    def addresses(self) -> list[Any]:
        """Local addresses of the listeners: ``(host, port)`` tuples or Unix paths."""
        result = []
        for sock in self.listeners:
            with contextlib.suppress(OSError):
                name = sock.getsockname()
                result.append(name if isinstance(name, str) else (name[0], name[1]))
        return result

    @property
    def thread_count(self) -> int:
        """The number of worker threads (once started; configured count before)."""
        return len(self.workers) or self.config.worker_count()

    @property
    def urls(self) -> list[str]:
        scheme = "https" if self.ssl_context is not None else "http"
        return [describe_listener(sock, scheme) for sock in self.listeners]

    def start(self) -> None:
        """Bind, run the app's startup hook, start the reactor and the workers.

        Returns once the server accepts connections. Raises
        :class:`StartupError` if the application's startup fails, and
        ``OSError`` (``AddressInUseError``) if the address cannot be bound.
        """
        if self._started:
            raise RuntimeError("server already started")
        self.listeners, self._owned = bind_listeners(self.config)
        try:
            startup = getattr(self.app, "startup", None)
            if startup is not None:
                try:
                    startup()
                except Exception as exc:
                    raise StartupError(
                        f"application startup failed: {type(exc).__name__}: {exc}"
                    ) from exc
            warn_if_gil_reenabled()
            self.reactor = Reactor(
                self.config, self.listeners, self._owned, ssl_context=self.ssl_context
            )
            self.reactor.stream_decider = getattr(self.app, "streams_body", None)
            self.workers = [Worker(self, i) for i in range(self.config.worker_count())]
            metrics = self.config.metrics
            if metrics is not None:
                metrics.bind_server(self)
            for worker in self.workers:
                worker.start()
            self.reactor.start()
        except BaseException:
            self._close_listeners()
            raise
        self._started = True
        logger.info(
            "Barq serving on %s with %d threads on %s (%s, pid %d)",
            ", ".join(self.urls),
            len(self.workers),
            self.reactor.backend.detail,
            describe_interpreter(),
            os.getpid(),
        )

    def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: stop accepting, finish in-flight requests within
        ``grace`` seconds (default ``config.graceful_timeout``), close idle
        connections, stop the threads, run the app's shutdown hook."""
        with self._stop_lock:
            if not self._started or self._stopped.is_set():
                return
            grace = self.config.graceful_timeout if grace is None else grace
            reactor = self.reactor
            self._unlink_unix_paths()
            reactor.stop_accepting()
            # The reactor accepts what is already in the listen backlogs and closes
            # our listeners itself: closing them first would reset those clients.
            reactor.listeners_released.wait(2.0)
            self._close_listeners()
            deadline = time.monotonic() + grace
            # WebSockets are told at once (1001) while HTTP requests finish.
            closing = threading.Thread(
                target=self.websockets.shutdown,
                args=(min(grace, 2.0),),
                name=f"{self.config.name}-websocket-shutdown",
                daemon=True,
            )
            closing.start()
            while time.monotonic() < deadline:
                if reactor.all_answered() and all(w.current is None for w in self.workers):
                    break
                if self._signal_count > 1:
                    logger.warning("second signal: not waiting for in-flight requests")
                    break
                time.sleep(0.02)
            else:
                busy = sum(1 for w in self.workers if w.current is not None)
                if busy:
                    logger.warning(
                        "graceful shutdown: %d request(s) still running after %.1fs", busy, grace
                    )
            closing.join(timeout=max(0.1, deadline - time.monotonic()))
            reactor.release_workers()
            join_deadline = time.monotonic() + 1.0
            for worker in self.workers:
                worker.thread.join(timeout=max(0.0, join_deadline - time.monotonic()))
            reactor.stop()
            shutdown = getattr(self.app, "shutdown", None)
            if shutdown is not None:
                try:
                    shutdown()
                except Exception:
                    logger.exception("error in application shutdown")
            self._stopped.set()
            logger.info("Barq stopped")

    def stop_accepting(self) -> None:
        """Stop accepting new connections but keep serving open ones."""
        if self._started:
            self._unlink_unix_paths()
            self.reactor.stop_accepting()
            self.reactor.listeners_released.wait(2.0)
            self._close_listeners()

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to shut down (thread- and signal-safe)."""
        self._stop_requested.set()

    def serve_forever(self) -> None:
        """Start, then block until SIGINT/SIGTERM (or :meth:`request_stop`), then stop.

        A second signal during the graceful shutdown shortens the grace to zero;
        a third exits the process at once.
        """
        previous: dict[signal.Signals, Any] = {}
        install = (
            self.config.install_signal_handlers
            and threading.current_thread() is threading.main_thread()
        )
        if install:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            if not self._started:
                self.start()
            while not self._signal_count and not self._stop_requested.wait(0.1):
                pass
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Runs between two bytecodes of the main thread, which may hold any lock
        # at that moment (an Event's, logging's): so no locks and no logging
        # here, only a counter that serve_forever() and stop() poll.
        self._signal_count += 1
        if self._signal_count > 2:
            os._exit(1)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def _close_listeners(self) -> None:
        """Close the listening sockets this server created (idempotent, any thread;
        inherited ones stay open for their owner)."""
        self._unlink_unix_paths()
        with self._listeners_lock:
            owned, self._owned = self._owned, []
        for sock in owned:
            with contextlib.suppress(OSError):
                sock.close()

    def _unlink_unix_paths(self) -> None:
        """Remove the paths of the Unix sockets this server created (idempotent):
        from then on a client's connect() fails at once with "no such file" and
        nobody new joins the backlog that the shutdown accepts."""
        with self._listeners_lock:
            owned = [s for s in self._owned if s.family == getattr(socket, "AF_UNIX", None)]
            if not owned or self._unlinked:
                return
            self._unlinked = True
        for sock in owned:
            with contextlib.suppress(OSError):
                path = sock.getsockname()
                if path and isinstance(path, str) and not path.startswith("\0"):
                    os.unlink(path)

    # -- observation -----------------------------------------------------------

    def gauges(self) -> dict[str, int]:
        """Server-wide gauges and counters (racy reads, for metrics)."""
        reactor = self.reactor
        if reactor is None:
            return {}
        idle, queued = reactor.connection_states()
        return {
            "open_connections": len(reactor.connections),
            "idle_connections": idle,
            "queued": queued,
            "accepted": reactor.accepted,
            "rejected": sum(w.rejected for w in self.workers),
            "timed_out": reactor.timed_out,
            "workers": len(self.workers),
            "busy_workers": sum(1 for w in self.workers if w.current is not None),
            # 1 when latencies include the wait for a worker (metrics on, and the
            # platform stamps what sockets receive)
            "queue_wait": int(ARRIVAL_TIMESTAMPS and self.config.metrics is not None),
            "websockets_open": self.websockets.open_count,
            "websockets_refused": self.websockets.refused,
        }

    def websocket_routes(self) -> dict[str, dict[str, int]]:
        """Per WebSocket route: ``opened``, ``open``, ``messages_in``, ``messages_out``."""
        return self.websockets.route_counts()


def serve(app: Application, **options: Any) -> None:
    """Run ``app`` until SIGINT/SIGTERM: ``serve(app, host="0.0.0.0", port=8000, threads=16)``.

    ``workers=`` is accepted as an alias of ``threads=``.
    """
    if "workers" in options:
        workers = options.pop("workers")
        if options.get("threads") is None:
            options["threads"] = workers
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    Server(app, ServerConfig().with_options(**options)).serve_forever()
