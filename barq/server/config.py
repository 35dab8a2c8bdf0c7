"""Every server limit and timeout in one place, with documented defaults."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields, replace
from typing import Any

from barq.http.parser import Limits

__all__ = ["ServerConfig", "default_threads"]


def default_threads() -> int:
    """Default worker count: two per CPU core, at least 4, at most 64."""
    return max(4, min(64, 2 * (os.cpu_count() or 1)))


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
    #: Listen backlog (capped by the kernel's somaxconn).
    backlog: int = 2048

    #: Worker threads running application code (None: :func:`default_threads`).
    threads: int | None = None
    #: Open connections at most; beyond it new clients wait in the listen backlog.
    max_connections: int = 4096

    #: Longest request line; beyond it the answer is 414.
    max_request_line: int = 8 * 1024
    #: Largest request header block; beyond it the answer is 431.
    max_header_bytes: int = 64 * 1024
    #: Most request header fields; beyond it the answer is 431.
    max_headers: int = 100
    #: Largest request body; beyond it the answer is 413 (sent before reading it).
    max_body_bytes: int = 16 * 1024 * 1024

    #: Seconds from a request's first byte until its head must be complete (408).
    header_timeout: float = 10.0
    #: Seconds a request body may stall between two reads (408).
    body_timeout: float = 30.0
    #: Seconds an idle keep-alive connection stays open.
    keepalive_timeout: float = 5.0
    #: Seconds a response write may stall before the connection is dropped.
    write_timeout: float = 30.0
    #: Seconds a graceful shutdown waits for in-flight requests.
    graceful_timeout: float = 10.0

    #: Log one line per request on the ``barq.access`` logger (INFO).
    access_log: bool = False
    #: Value of the ``Server`` response header.
    server_header: str = "barq"
    #: Optional metrics sink (see ``barq.metrics``); None disables recording.
    metrics: Any = None
    #: Install SIGINT/SIGTERM handlers in :meth:`Server.serve_forever`.
    install_signal_handlers: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def limits(self) -> Limits:
        """The parser limits derived from this configuration."""
        return Limits(
            max_request_line=self.max_request_line,
            max_header_bytes=self.max_header_bytes,
            max_headers=self.max_headers,
            max_body_bytes=self.max_body_bytes,
        )

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
        if self.max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")
        for name in (
            "header_timeout",
            "body_timeout",
            "keepalive_timeout",
            "write_timeout",
            "graceful_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
