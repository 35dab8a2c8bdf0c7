"""Prometheus text exposition format (version 0.0.4) of a snapshot.

:func:`render` is a pure function of ``Metrics.snapshot()``'s output, so the
stats endpoint, tests and tools share one implementation. Counters end in
``_total``; histograms have ``_bucket{le=...}`` (cumulative, ending with
``le="+Inf"``), ``_sum`` and ``_count``. The ``le`` bounds are real boundaries of
Barq's fine histogram closest to 0.1 ms … 60 s, so their counts are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from barq.metrics.histogram import EXPOSITION_BOUNDS_NS, cumulative_at

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LE = tuple(repr(ns / 1e9) for ns in EXPOSITION_BOUNDS_NS)


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, object]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: Mapping[str, object], value: float | int | None) -> None:
        if value is None:
            return
        self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def simple(self, name: str, kind: str, help_text: str, value: float | int | None) -> None:
        if value is None:
            return
        self.family(name, kind, help_text)
        self.sample(name, {}, value)

    def histogram(
        self,
        name: str,
        help_text: str,
        series: Iterable[tuple[Mapping[str, object], Mapping[str, Any]]],
    ) -> None:
        self.family(name, "histogram", help_text)
        for labels, latency in series:
            pairs = latency.get("buckets") or []
            cumulative = cumulative_at(pairs, EXPOSITION_BOUNDS_NS)
            for le, count in zip(_LE, cumulative, strict=True):
                self.sample(f"{name}_bucket", {**labels, "le": le}, count)
            self.sample(f"{name}_bucket", {**labels, "le": "+Inf"}, int(latency["count"]))
            self.sample(f"{name}_sum", labels, float(latency["sum_s"]))
            self.sample(f"{name}_count", labels, int(latency["count"]))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(snapshot: Mapping[str, Any]) -> str:
    """The snapshot in Prometheus text format (ends with a newline)."""
    out = _Writer()
    process = snapshot["process"]
    python = process["python"]
    server = snapshot["server"]

    out.family("barq_info", "gauge", "Barq and Python build information (always 1).")
    out.sample(
        "barq_info",
        {
            "version": process["barq_version"],
            "python_implementation": python["implementation"],
            "python_version": python["version"],
            "free_threaded": "true" if python["free_threaded"] else "false",
        },
        1,
    )
    out.simple(
        "barq_gil_enabled", "gauge", "1 when the GIL is enabled right now.", python["gil_enabled"]
    )
    out.simple(
        "barq_process_start_time_seconds",
        "gauge",
        "Server start time, seconds since the Unix epoch.",
        float(process["started_at"]),
    )
    out.simple(
        "barq_uptime_seconds", "gauge", "Seconds since the server started.", process["uptime_s"]
    )
    out.simple(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time of the process, seconds.",
        process.get("cpu_s"),
    )
    out.simple(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the process, bytes.",
        process.get("rss_bytes"),
    )
    out.simple("barq_workers", "gauge", "Worker threads.", server.get("workers"))
    out.simple(
        "barq_workers_busy",
        "gauge",
        "Worker threads running a request.",
        server.get("busy_workers"),
    )
    out.simple(
        "barq_connections_open",
        "gauge",
        "Open client connections.",
        server.get("open_connections"),
    )
    out.simple(
        "barq_connections_idle",
        "gauge",
        "Idle keep-alive connections.",
        server.get("idle_connections"),
    )
    out.simple(
        "barq_requests_queued",
        "gauge",
        "Ready connections waiting for a worker.",
        server.get("queued"),
    )
    out.simple(
        "barq_connections_accepted_total",
        "counter",
        "Connections accepted.",
        server.get("accepted"),
    )
    out.simple(
        "barq_connections_rejected_total",
        "counter",
        "Connections rejected.",
        server.get("rejected"),
    )
    out.simple(
        "barq_connections_timed_out_total",
        "counter",
        "Connections closed by a timeout.",
        server.get("timed_out"),
    )
    out.simple("barq_websockets_open", "gauge", "Open WebSockets.", server.get("websockets_open"))
    out.simple(
        "barq_websockets_refused_total",
        "counter",
        "WebSocket handshakes refused at max_websockets.",
        server.get("websockets_refused"),
    )
    websockets = snapshot.get("websockets") or []
    if websockets:
        out.family("barq_websockets_opened_total", "counter", "WebSockets opened, per route.")
        for row in websockets:
            out.sample("barq_websockets_opened_total", {"route": row["route"]}, row["opened"])
        out.family(
            "barq_websocket_messages_total",
            "counter",
            "WebSocket messages, per route and direction.",
        )
        for row in websockets:
            for direction in ("in", "out"):
                out.sample(
                    "barq_websocket_messages_total",
                    {"route": row["route"], "direction": direction},
                    row[f"messages_{direction}"],
                )
    out.simple(
        "barq_hook_errors_total",
        "counter",
        "Exceptions raised by metrics hooks.",
        snapshot["hooks"]["errors"],
    )

    workers = snapshot["workers"]
    out.family("barq_worker_busy", "gauge", "1 while the worker thread runs a request.")
    for w in workers:
        out.sample("barq_worker_busy", {"worker": w["name"]}, 1 if w["state"] == "busy" else 0)
    out.family(
        "barq_worker_busy_seconds_total",
        "counter",
        "Time the worker thread spent working rather than waiting for a ready connection.",
    )
    for w in workers:
        out.sample("barq_worker_busy_seconds_total", {"worker": w["name"]}, w.get("busy_s"))
    out.family(
        "barq_worker_requests_total", "counter", "Requests served, by worker and status class."
    )
    for w in workers:
        for code, count in w["status"].items():
            out.sample("barq_worker_requests_total", {"worker": w["name"], "code": code}, count)
    out.family(
        "barq_worker_errors_total",
        "counter",
        "Requests that raised, failed to send, or answered 5xx, by worker.",
    )
    for w in workers:
        out.sample("barq_worker_errors_total", {"worker": w["name"]}, w["errors"])
    out.family("barq_worker_received_bytes_total", "counter", "Request bytes read, by worker.")
    for w in workers:
        out.sample("barq_worker_received_bytes_total", {"worker": w["name"]}, w["bytes_in"])
    out.family("barq_worker_sent_bytes_total", "counter", "Response bytes written, by worker.")
    for w in workers:
        out.sample("barq_worker_sent_bytes_total", {"worker": w["name"]}, w["bytes_out"])
    out.histogram(
        "barq_worker_request_duration_seconds",
        "Service time (a worker picks the request up to the response written), by worker.",
        (({"worker": w["name"]}, w["service"]) for w in workers),
    )
    out.histogram(
        "barq_worker_request_latency_seconds",
        "Latency (the request's bytes arrived to the response written: the wait for a "
        "worker included), by worker.",
        (({"worker": w["name"]}, w["latency"]) for w in workers),
    )

    routes = snapshot["routes"]
    out.family("barq_http_requests_total", "counter", "Requests by method and route template.")
    for r in routes:
        out.sample(
            "barq_http_requests_total", {"method": r["method"], "route": r["route"]}, r["count"]
        )
    out.family("barq_http_request_errors_total", "counter", "Failed requests by method and route.")
    for r in routes:
        out.sample(
            "barq_http_request_errors_total",
            {"method": r["method"], "route": r["route"]},
            r["errors"],
        )
    out.histogram(
        "barq_http_request_duration_seconds",
        "Service time (a worker picks the request up to the response written) by method "
        "and route template.",
        (({"method": r["method"], "route": r["route"]}, r["service"]) for r in routes),
    )
    out.histogram(
        "barq_http_request_latency_seconds",
        "Latency (the request's bytes arrived to the response written: the wait for a "
        "worker included) by method and route template.",
        (({"method": r["method"], "route": r["route"]}, r["latency"]) for r in routes),
    )
    return out.text()
