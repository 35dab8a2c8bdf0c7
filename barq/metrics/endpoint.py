"""The stats endpoint: a bare application served by a *second* server.

It never shares the application's port or URL space. Paths (GET or HEAD):

- ``/`` and ``/stats.json``: the snapshot as JSON (``?pretty=1`` to indent),
- ``/metrics``: Prometheus text exposition format,
- ``/healthz``: ``ok``.

:func:`start_stats_server` runs it on its own host:port (loopback only unless
``allow_remote=True``), registers it for `barq stats` and cleans up on stop/exit.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from barq.http.messages import HTTPRequest, HTTPResponse
from barq.metrics import prometheus
from barq.metrics.registry import register_server, unregister_server

if TYPE_CHECKING:
    from barq.metrics.core import Metrics

__all__ = [
    "StatsAddressError",
    "StatsServer",
    "is_loopback",
    "make_stats_app",
    "parse_stats_address",
    "start_stats_server",
]

_JSON_PATHS = frozenset(("/", "/stats.json", "/stats"))
_NO_STORE = ("cache-control", "no-store")


class StatsAddressError(ValueError):
    """A stats address that cannot be parsed or is not allowed."""


def make_stats_app(metrics: Metrics) -> Callable[[HTTPRequest], HTTPResponse]:
    """The stats endpoint as a bare application ``app(request) -> response``."""

    def stats_app(request: HTTPRequest) -> HTTPResponse:
        path = request.path
        if path not in _JSON_PATHS and path not in ("/metrics", "/healthz"):
            body = json.dumps(
                {
                    "detail": f"Not Found: {path[:200]}",
                    "endpoints": ["/", "/stats.json", "/metrics", "/healthz"],
                }
            ).encode()
            return HTTPResponse(404, [("content-type", "application/json")], body)
        if request.method not in ("GET", "HEAD"):
            return HTTPResponse(
                405,
                [("content-type", "application/json"), ("allow", "GET, HEAD")],
                b'{"detail":"Method Not Allowed"}',
            )
        if path == "/healthz":
            headers = [("content-type", "text/plain; charset=utf-8"), _NO_STORE]
            body = b"ok\n"
        elif path == "/metrics":
            headers = [("content-type", prometheus.CONTENT_TYPE), _NO_STORE]
            body = prometheus.render(metrics.snapshot()).encode()
        else:
            pretty = any(
                part in ("pretty", "pretty=1", "pretty=true") for part in request.query.split("&")
            )
            text = json.dumps(
                metrics.snapshot(),
                indent=2 if pretty else None,
                separators=None if pretty else (",", ":"),
            )
            headers = [("content-type", "application/json"), _NO_STORE]
            body = text.encode() + b"\n"
        if request.method == "HEAD":
            body = b""
        return HTTPResponse(200, headers, body)

    stats_app.__qualname__ = "stats_app"
    return stats_app


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses
    )


def parse_stats_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Parse ``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` or ``PORT`` into ``(host, port)``."""
    value = text.strip()
    if not value:
        raise StatsAddressError("empty stats address; expected HOST:PORT, e.g. 127.0.0.1:9100")
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise StatsAddressError(f"invalid stats address {text!r}; expected [IPv6]:PORT")
        port_text = rest[1:]
    elif value.count(":") > 1:
        raise StatsAddressError(
            f"invalid stats address {text!r}; write IPv6 addresses as [::1]:PORT"
        )
    elif ":" in value:
        host, _, port_text = value.rpartition(":")
        host = host or default_host
    else:
        host, port_text = default_host, value
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise StatsAddressError(
            f"invalid port in stats address {text!r}; expected a number from 0 to 65535"
        )
    if not host:
        raise StatsAddressError(f"missing host in stats address {text!r}")
    return host, int(port_text)


class StatsServer:
    """Handle of a running stats endpoint (returned by :func:`start_stats_server`).

    Attributes: ``host``, ``port`` (the bound port), ``url``, ``registry_path``
    (None when not registered). :meth:`stop` is idempotent; it also runs at exit.
    """

    def __init__(self, server: Any, host: str, port: int, registry_path: Path | None) -> None:
        self._server = server
        self.host = host
        self.port = port
        display = f"[{host}]" if ":" in host else host
        self.url = f"http://{display}:{port}"
        self.registry_path = registry_path
        self._lock = threading.Lock()
        self._stopped = False

    def stop(self) -> None:
        """Stop the stats server and remove its registry file."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        atexit.unregister(self.stop)
        if self.registry_path is not None:
            unregister_server(self.registry_path)
        self._server.stop()

    def __enter__(self) -> StatsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<StatsServer {self.url}{' stopped' if self._stopped else ''}>"


def start_stats_server(
    metrics: Metrics,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    allow_remote: bool = False,
    register: bool = True,
    app_name: str | None = None,
    app_addresses: Sequence[object] | None = None,
) -> StatsServer:
    """Serve ``metrics`` on ``host:port`` with its own :class:`barq.server.Server`.

    Raises :class:`StatsAddressError` for a non-loopback ``host`` unless
    ``allow_remote`` (the snapshot shows routes and in-flight paths), and
    ``OSError`` when the address cannot be bound. With ``register`` a file in the
    runtime registry lets `barq stats` find it; it is removed by ``stop()``, at
    interpreter exit, or (if the process dies) by the next `barq stats`.
    ``app_name``/``app_addresses`` are informational (shown by `barq stats`).
    """
    if not allow_remote and not is_loopback(host):
        raise StatsAddressError(
            f"refusing to serve stats on non-loopback address {host!r}: the stats endpoint "
            "exposes routes and in-flight requests. Use 127.0.0.1, or allow it explicitly."
        )
    from barq.server import Server, ServerConfig

    server = Server(make_stats_app(metrics), ServerConfig(host=host, port=port, threads=2))
    server.start()
    try:
        bound = server.addresses[0]
        bound_host = str(bound[0]) if isinstance(bound, tuple) else host
        bound_port = int(bound[1]) if isinstance(bound, tuple) else port
        registry_path = None
        handle = StatsServer(server, bound_host, bound_port, None)
        if register:
            registry_path = register_server(
                {
                    "pid": os.getpid(),
                    "host": bound_host,
                    "port": bound_port,
                    "url": handle.url,
                    "app": app_name,
                    "addresses": [
                        list(a) if isinstance(a, tuple) else str(a) for a in (app_addresses or ())
                    ],
                    "argv": sys.argv[:8],
                    "started_at": time.time(),
                }
            )
            handle.registry_path = registry_path
    except BaseException:
        server.stop()
        raise
    atexit.register(handle.stop)
    return handle
