"""Every server limit and timeout in one place, with documented defaults.

Each tunable field carries its help text in its metadata (``help``), and the
ones ``barq run`` / ``barq dev`` expose as ``--option`` / ``BARQ_OPTION`` /
``[tool.barq]`` keys say so (``cli``): the command line is generated from this
class. The parser limits take their defaults from :class:`barq.http.parser.Limits`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from functools import partial
from typing import Any

from barq.http.parser import Limits
from barq.http.readers import BodySink, MemoryBody
from barq.server.interfaces import MetricsSink
from barq.server.spool import SpooledBody

__all__ = ["ServerConfig", "cli_fields", "default_threads"]


def default_threads() -> int:
    """Default worker count: two per CPU core, at least 4, at most 64."""
    return max(4, min(64, 2 * (os.cpu_count() or 1)))


def _tunable(default: Any, help: str) -> Any:
    """A field exposed on the command line (``--name``, ``BARQ_NAME``, ``[tool.barq]``)."""
    return field(default=default, metadata={"help": help, "cli": True})


def _limit(name: str, help: str) -> Any:
    """A parser limit: its default is :class:`Limits`'s, declared there once."""
    default = Limits.__dataclass_fields__[name].default
    return _tunable(default, help)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How the server listens, how many workers it runs, and its limits.

    Listening: ``host``/``port`` (``port=0`` picks a free port; an IPv6 host such
    as ``"::1"`` works), or ``uds`` (a Unix socket path), or ``fd`` (an already
    bound listening socket inherited from a supervisor such as ``barq dev``), or
    ``sockets`` (already bound socket objects). With ``fd``/``sockets`` host and
    port are ignored.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    sockets: tuple[socket.socket, ...] = ()
    backlog: int = _tunable(2048, "Listen backlog (capped by the kernel's somaxconn).")

    event_backend: str = _tunable(
        "auto",
        "How sockets are watched: auto (epoll on Linux, else the platform's selector), "
        "epoll, selectors, kqueue, poll or select.",
    )

    #: Worker threads running application code (None: :func:`default_threads`).
    threads: int | None = None
    max_connections: int = _tunable(
        4096,
        "Open connections at most; at the cap the least useful (idle, slowest) make room, "
        "else new clients wait in the listen backlog.",
    )
    max_connections_per_client: int | None = _tunable(
        None, "Open connections per client address at most (more get 503)."
    )

    max_request_line: int = _limit(
        "max_request_line", "Longest request line in bytes; beyond it the answer is 414."
    )
    max_header_bytes: int = _limit(
        "max_header_bytes", "Largest request header block in bytes; beyond it 431."
    )
    max_headers: int = _limit("max_headers", "Most request header fields; beyond it 431.")
    max_body_bytes: int = _limit(
        "max_body_bytes", "Largest request body in bytes; beyond it 413 (sent before reading)."
    )

    header_timeout: float = _tunable(
        10.0, "Seconds from a request's first byte until its head is complete (else 408)."
    )
    body_timeout: float = _tunable(30.0, "Seconds a request body may stall (else 408).")
    request_timeout: float = _tunable(
        300.0, "Seconds a whole request (head and body) may take to arrive (else 408)."
    )
    min_rate: float = _tunable(
        1024.0,
        "Bytes per second a request must average once it has been arriving for 5 s "
        "(else 408); 0 turns the check off.",
    )
    body_spool_bytes: int = _tunable(
        1024 * 1024, "Request bodies larger than this go to a temporary file, not memory."
    )
    keepalive_timeout: float = _tunable(5.0, "Seconds an idle keep-alive connection stays open.")
    write_timeout: float = _tunable(
        30.0, "Seconds a response write may stall before the connection is dropped."
    )
    graceful_timeout: float = _tunable(
        10.0, "Seconds a graceful shutdown waits for in-flight requests."
    )

    #: Log one line per request on the ``barq.access`` logger (INFO).
    access_log: bool = False
    #: Value of the ``Server`` response header.
    server_header: str = "barq"
    #: Prefix of the thread names: ``<name>-reactor``, ``<name>-worker-N``.
    name: str = "barq"
    #: Optional metrics sink (e.g. :class:`barq.metrics.Metrics`); None disables recording.
    metrics: MetricsSink | None = None
    #: Install SIGINT/SIGTERM handlers in :meth:`Server.serve_forever`.
    install_signal_handlers: bool = True

    def body_factory(self) -> Callable[[], BodySink]:
        """How the server collects request bodies: spooled past ``body_spool_bytes``."""
        if self.body_spool_bytes >= self.max_body_bytes:
            return MemoryBody
        return partial(SpooledBody, self.body_spool_bytes)

    def limits(self) -> Limits:
        """The parser limits derived from this configuration."""
        return Limits(**{f.name: getattr(self, f.name) for f in fields(Limits)})

    def worker_count(self) -> int:
        """The number of worker threads to start."""
        return self.threads if self.threads else default_threads()

    def with_options(self, **options: Any) -> ServerConfig:
        """A copy with ``options`` replaced (unknown names raise TypeError)."""
        known = {f.name for f in fields(self)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown server option(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)

    def validate(self) -> None:
        """Raise ValueError for values that cannot work."""
        from barq.server.events import BACKEND_NAMES, resolve

        if self.event_backend.strip().lower() not in BACKEND_NAMES:
            raise ValueError(
                f"event_backend must be one of {', '.join(BACKEND_NAMES)}, "
                f"not {self.event_backend!r}"
            )
        try:
            resolve(self.event_backend)  # not on this platform, or a bad BARQ_EVENT_BACKEND
        except ValueError as exc:
            raise ValueError(f"event_backend {self.event_backend!r}: {exc}") from None
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be at least 1")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {self.port}")
        for name in (
            "max_connections",
            "max_request_line",
            "max_header_bytes",
            "max_headers",
            "backlog",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if any(c in self.server_header for c in "\r\n\0"):
            raise ValueError("server_header must not contain CR, LF or NUL")
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError("name must be a non-empty word (it prefixes thread names)")
        if self.max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")
        if self.body_spool_bytes < 0:
            raise ValueError("body_spool_bytes must not be negative")
        if self.min_rate < 0:
            raise ValueError("min_rate must not be negative")
        if self.max_connections_per_client is not None and self.max_connections_per_client < 1:
            raise ValueError("max_connections_per_client must be positive")
        for name in (
            "header_timeout",
            "body_timeout",
            "keepalive_timeout",
            "write_timeout",
            "graceful_timeout",
            "request_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def cli_fields() -> list[Field[Any]]:
    """The fields exposed on the command line, in declaration order."""
    return [f for f in fields(ServerConfig) if f.metadata.get("cli")]


def field_default(f: Field[Any]) -> Any:
    """The default value of a :class:`ServerConfig` field."""
    return None if f.default is MISSING else f.default
