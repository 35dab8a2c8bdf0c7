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
from typing import TYPE_CHECKING, Any

from barq.http.parser import Limits
from barq.http.readers import BodySink, MemoryBody
from barq.server.interfaces import MetricsSink
from barq.server.spool import SpooledBody

if TYPE_CHECKING:
    import ssl

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

    ssl_certfile: str | None = _tunable(
        None, "Serve HTTPS with this certificate (PEM; the chain after the server's own)."
    )
    ssl_keyfile: str | None = _tunable(
        None, "The certificate's private key (PEM), if not in the certificate file."
    )
    ssl_keyfile_password: str | None = _tunable(None, "Password of an encrypted private key.")
    ssl_ca_certs: str | None = _tunable(
        None, "CA certificates (PEM) that client certificates are checked against."
    )
    ssl_cert_reqs: str = _tunable(
        "none", "Client certificates: none, optional or required (with --ssl-ca-certs)."
    )
    handshake_timeout: float = _tunable(
        10.0, "Seconds a TLS handshake may take before the connection is closed."
    )
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

    max_websockets: int = _tunable(
        4096, "Open WebSockets at most; further handshakes get 503 (they hold no worker)."
    )
    ws_max_message_bytes: int = _tunable(
        16 * 1024 * 1024, "Largest WebSocket message accepted; beyond it the socket closes (1009)."
    )
    ws_ping_interval: float = _tunable(
        20.0, "Seconds a WebSocket may be silent before the server pings it; 0 turns pings off."
    )
    ws_ping_timeout: float = _tunable(
        20.0, "Seconds a ping may go unanswered before the WebSocket is closed (1011)."
    )
    #: Compress WebSocket messages (permessage-deflate) with clients that offer it.
    ws_per_message_deflate: bool = True
    #: Event-loop threads owning the open WebSockets (None: one per four cores, 1-4).
    websocket_threads: int | None = None

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

    @property
    def tls(self) -> bool:
        """True when the server speaks HTTPS (``ssl_certfile`` is set)."""
        return self.ssl_certfile is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context (None without ``ssl_certfile``): TLS 1.2+,
        ALPN ``http/1.1``, client certificates as ``ssl_cert_reqs`` says.

        Raises ValueError naming the option for files that cannot be loaded."""
        if self.ssl_certfile is None:
            return None
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        for name in ("ssl_certfile", "ssl_keyfile", "ssl_ca_certs"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"{name} {path!r}: no such file")
        try:
            context.load_cert_chain(
                self.ssl_certfile, self.ssl_keyfile, password=self.ssl_keyfile_password
            )
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(
                f"ssl_certfile {self.ssl_certfile!r}: cannot load the certificate and key "
                f"({exc}); check the files and ssl_keyfile_password"
            ) from None
        if self.ssl_ca_certs is not None:
            try:
                context.load_verify_locations(cafile=self.ssl_ca_certs)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"ssl_ca_certs {self.ssl_ca_certs!r}: {exc}") from None
        context.verify_mode = {
            "none": ssl.CERT_NONE,
            "optional": ssl.CERT_OPTIONAL,
            "required": ssl.CERT_REQUIRED,
        }[self.ssl_cert_reqs]
        return context

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
        if self.ssl_cert_reqs not in ("none", "optional", "required"):
            raise ValueError(
                f"ssl_cert_reqs must be none, optional or required, not {self.ssl_cert_reqs!r}"
            )
        if self.ssl_certfile is None:
            for name in ("ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} needs ssl_certfile (the server's certificate)")
        if self.ssl_cert_reqs != "none" and self.ssl_ca_certs is None:
            raise ValueError("ssl_cert_reqs needs ssl_ca_certs (to check client certificates)")
        if self.handshake_timeout <= 0:
            raise ValueError("handshake_timeout must be positive")
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
        if self.websocket_threads is not None and self.websocket_threads < 1:
            raise ValueError("websocket_threads must be at least 1")
        if self.ws_ping_interval < 0 or self.ws_ping_timeout <= 0:
            raise ValueError("ws_ping_interval must not be negative, ws_ping_timeout positive")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {self.port}")
        for name in (
            "max_connections",
            "max_request_line",
            "max_header_bytes",
            "max_headers",
            "backlog",
            "max_websockets",
            "ws_max_message_bytes",
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
