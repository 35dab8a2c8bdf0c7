"""Barq metrics: lock-free per-thread recorders, snapshots, Prometheus, stats endpoint.

Typical use (the CLI does this for `barq dev` and `barq run --stats`)::

    from barq.metrics import Metrics
    from barq.server import Server, ServerConfig
    from barq.stats import start_stats_server

    metrics = Metrics()
    server = Server(app, ServerConfig(port=8000, metrics=metrics))
    server.start()
    stats = start_stats_server(metrics, "127.0.0.1", 9100)   # a second server
    ...
    stats.stop(); server.stop()

See docs/metrics.md for the snapshot schema, the hooks API and metric names.
"""

from barq.metrics.core import SCHEMA, Metrics
from barq.metrics.endpoint import (
    StatsAddressError,
    is_loopback,
    make_stats_app,
    parse_stats_address,
)
from barq.metrics.hooks import RequestEnd, RequestStart
from barq.metrics.prometheus import render as render_prometheus
from barq.metrics.recorder import UNMATCHED, WorkerRecorder
from barq.metrics.registry import list_servers, registry_dir

__all__ = [
    "SCHEMA",
    "UNMATCHED",
    "Metrics",
    "RequestEnd",
    "RequestStart",
    "StatsAddressError",
    "WorkerRecorder",
    "is_loopback",
    "list_servers",
    "make_stats_app",
    "parse_stats_address",
    "registry_dir",
    "render_prometheus",
]
