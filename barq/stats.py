"""Serve a metrics snapshot on its own, second server: the stats endpoint.

:func:`start_stats_server` runs :func:`barq.metrics.make_stats_app` on its own
host:port (loopback only unless ``allow_remote=True``) with a
:class:`barq.server.Server` whose threads are named ``barq-stats-*``, registers
it for `barq stats` and cleans up on stop and at exit. This module joins the
server and the metrics package, which never import each other.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from barq.metrics.core import Metrics
from barq.metrics.endpoint import StatsAddressError, is_loopback, make_stats_app
from barq.metrics.registry import register_server, unregister_server
from barq.server import Server, ServerConfig

__all__ = ["StatsServer", "start_stats_server"]


class StatsServer:
    """Handle of a running stats endpoint (returned by :func:`start_stats_server`).

    Attributes: ``host``, ``port`` (the bound port), ``url``, ``registry_path``
    (None when not registered). :meth:`stop` is idempotent; it also runs at exit.
    """

    def __init__(self, server: Server, host: str, port: int, registry_path: Path | None) -> None:
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
    mode: str = "app",
) -> StatsServer:
    """Serve ``metrics`` on ``host:port`` with its own :class:`barq.server.Server`.

    Raises :class:`StatsAddressError` for a non-loopback ``host`` unless
    ``allow_remote`` (the snapshot shows routes and in-flight paths), and
    ``OSError`` when the address cannot be bound. With ``register`` a file in the
    runtime registry lets `barq stats` find it; it is removed by ``stop()``, at
    interpreter exit, or (if the process dies) by the next `barq stats`.
    ``app_name``/``app_addresses``/``mode`` are informational (shown by `barq
    stats`; ``mode`` is ``"run"`` for `barq run`, ``"app"`` for code of yours).
    """
    if not allow_remote and not is_loopback(host):
        raise StatsAddressError(
            f"refusing to serve stats on non-loopback address {host!r}: the stats endpoint "
            "exposes routes and in-flight requests. Use 127.0.0.1, or allow it explicitly."
        )
    config = ServerConfig(host=host, port=port, threads=2, name="barq-stats")
    server = Server(make_stats_app(metrics), config)
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
                    "mode": mode,
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
