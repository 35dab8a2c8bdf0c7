"""The :class:`Metrics` object: what ``ServerConfig(metrics=...)`` takes.

It owns the per-thread recorders, the hooks, and builds snapshots (plain,
JSON-serialisable data) by merging the recorders without stopping them.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from barq import __version__
from barq.metrics.histogram import summarize
from barq.metrics.hooks import HookErrorLog, RequestEnd, RequestStart
from barq.metrics.recorder import RouteStats, WorkerRecorder, WorkerStateLike
from barq.runtime import free_threaded_build, gil_enabled

__all__ = ["GAUGE_NAMES", "SCHEMA", "Metrics"]

SCHEMA = "barq.stats/2"
"""Value of a snapshot's ``schema`` key; bumped on incompatible changes."""

GAUGE_NAMES = (
    "open_connections",
    "idle_connections",
    "queued",
    "accepted",
    "rejected",
    "timed_out",
    "workers",
    "busy_workers",
    "websockets_open",
    "websockets_refused",
)
"""Keys of ``server.gauges()`` copied into ``snapshot()["server"]``."""

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

StartHook = TypeVar("StartHook", bound=Callable[[RequestStart], object])
EndHook = TypeVar("EndHook", bound=Callable[[RequestEnd], object])


class _ServerLike(Protocol):
    """What :meth:`Metrics.bind_server` reads of the server
    (``barq.server.interfaces.ServerView``, declared here again so that metrics
    never imports the server)."""

    @property
    def addresses(self) -> list[Any]: ...

    @property
    def thread_count(self) -> int: ...

    def gauges(self) -> dict[str, int]: ...


def _address(address: object) -> object:
    if isinstance(address, tuple):
        return [address[0], address[1]]
    return str(address)


class Metrics:
    """Request metrics for one server: per-thread recorders, hooks, snapshots.

    Pass it to the server (``ServerConfig(metrics=Metrics())``); the server calls
    :meth:`bind_server` and :meth:`worker`. Users call :meth:`snapshot` and register
    hooks with :meth:`on_request_start` / :meth:`on_request_end`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recorders: list[WorkerRecorder] = []
        self._server: _ServerLike | None = None
        # Read on the hot path without a lock; replaced (never mutated) under _lock.
        self._start_hooks: tuple[Callable[[RequestStart], object], ...] = ()
        self._end_hooks: tuple[Callable[[RequestEnd], object], ...] = ()
        self.hook_errors = HookErrorLog()
        self._started_wall = time.time()
        self._started_mono = time.monotonic()

    # -- server side --------------------------------------------------------

    def bind_server(self, server: _ServerLike) -> None:
        """Called by the server once at start; uptime counts from here."""
        with self._lock:
            self._server = server
            self._started_wall = time.time()
            self._started_mono = time.monotonic()

    def worker(self, index: int, name: str, state: WorkerStateLike | None = None) -> WorkerRecorder:
        """A new recorder for worker thread ``index`` (called once per thread).

        ``state``: the worker's own state (the server passes the worker itself,
        which keeps ``current`` / ``busy_since`` up to date). Without it the
        recorder keeps a state of its own, fed by ``request_started`` /
        ``request_finished``.
        """
        with self._lock:
            recorder = WorkerRecorder(self, index, name, state)
            self._recorders.append(recorder)
        return recorder

    @property
    def recorders(self) -> list[WorkerRecorder]:
        """The recorders created so far (a copy of the list)."""
        with self._lock:
            return list(self._recorders)

    # -- hooks ----------------------------------------------------------------

    def on_request_start(self, hook: StartHook) -> StartHook:
        """Register ``hook(event: RequestStart)``; usable as a decorator."""
        with self._lock:
            self._start_hooks = (*self._start_hooks, hook)
            self._push_hooks()
        return hook

    def on_request_end(self, hook: EndHook) -> EndHook:
        """Register ``hook(event: RequestEnd)``; usable as a decorator."""
        with self._lock:
            self._end_hooks = (*self._end_hooks, hook)
            self._push_hooks()
        return hook

    def remove_hook(self, hook: Callable[..., object]) -> None:
        """Unregister ``hook`` (from start and end hooks); unknown hooks are ignored."""
        with self._lock:
            self._start_hooks = tuple(h for h in self._start_hooks if h != hook)
            self._end_hooks = tuple(h for h in self._end_hooks if h != hook)
            self._push_hooks()

    def _push_hooks(self) -> None:
        # Recorders keep their own copies, and tell their worker whether it must
        # call them (hooks) or may queue requests inline.
        for recorder in self._recorders:
            recorder.set_hooks(self._start_hooks, self._end_hooks)

    # -- snapshot ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain data (see docs/metrics.md for the schema)."""
        with self._lock:
            recorders = list(self._recorders)
            server = self._server
            started_wall = self._started_wall
            started_mono = self._started_mono
            n_start, n_end = len(self._start_hooks), len(self._end_hooks)

        grand = RouteStats()
        workers: list[dict[str, Any]] = []
        # (route, method) -> the sum of that pair's RouteStats over all threads
        routes: dict[tuple[str, str], RouteStats] = {}
        in_flight = 0

        for rec in sorted(recorders, key=lambda r: r.index):
            # Racy reads, on purpose (see recorder.py). The worker sets busy_since
            # before current, and the clock is read after both: elapsed >= 0.
            current = rec.current
            busy_since = rec.busy_since
            now_ns = time.perf_counter_ns()
            busy_ns = rec.busy_ns(now_ns)
            mine = RouteStats()
            for route, method, stats in rec.route_stats():
                mine.merge(stats)
                agg = routes.get((route, method))
                if agg is None:
                    agg = routes[(route, method)] = RouteStats()
                agg.merge(stats)
            grand.merge(mine.data)
            entry: dict[str, Any] = {
                "index": rec.index,
                "name": rec.name,
                "state": "busy" if current is not None else "idle",
                "busy_s": None if busy_ns is None else busy_ns / 1e9,
                **_figures(mine),
                "current": None,
            }
            if current is not None:
                in_flight += 1
                entry["current"] = {
                    "method": current.method,
                    "path": current.path,
                    "route": current.route,
                    "elapsed_s": max(0, now_ns - busy_since) / 1e9 if busy_since else 0.0,
                }
            workers.append(entry)

        route_rows: list[dict[str, Any]] = [
            {
                "method": method,
                "route": route,
                "count": agg.requests,
                "errors": agg.errors,
                "latency": summarize(agg.latency_counts, agg.latency_sum_ns, agg.latency_max_ns),
                "service": summarize(agg.counts, agg.sum_ns, agg.max_ns),
            }
            for (route, method), agg in routes.items()
        ]
        route_rows.sort(key=lambda row: (-row["count"], row["route"], row["method"]))

        return {
            "schema": SCHEMA,
            "time": time.time(),
            "process": {
                "pid": os.getpid(),
                "started_at": started_wall,
                "uptime_s": max(0.0, time.monotonic() - started_mono),
                "cpu_s": time.process_time(),
                "rss_bytes": _rss_bytes(),
                "max_rss_bytes": _max_rss_bytes(),
                "threads": threading.active_count(),
                "barq_version": __version__,
                "python": {
                    "implementation": platform.python_implementation(),
                    "version": platform.python_version(),
                    "free_threaded": free_threaded_build(),
                    "gil_enabled": gil_enabled(),
                },
            },
            "server": _server_section(server, len(recorders), in_flight),
            "totals": {**_figures(grand), "in_flight": in_flight},
            "workers": workers,
            "routes": route_rows,
            "websockets": _websocket_rows(server),
            "hooks": {"start": n_start, "end": n_end, "errors": self.hook_errors.errors},
        }


def _figures(stats: RouteStats) -> dict[str, Any]:
    """The counters of ``stats`` as snapshot data (per thread and in total)."""
    return {
        "requests": stats.requests,
        "errors": stats.errors,
        "bytes_in": stats.bytes_in,
        "bytes_out": stats.bytes_out,
        "status": _status_dict(stats.status_counts),
        "latency": summarize(stats.latency_counts, stats.latency_sum_ns, stats.latency_max_ns),
        "service": summarize(stats.counts, stats.sum_ns, stats.max_ns),
    }


def _websocket_rows(server: _ServerLike | None) -> list[dict[str, Any]]:
    """Per WebSocket route: sockets open and opened, messages in and out (from
    the server's ``websocket_routes()``, where it has one)."""
    read = getattr(server, "websocket_routes", None)
    if read is None:
        return []
    try:
        counts = dict(read())
    except Exception:  # a stopping server must not break a snapshot
        return []
    rows = [{"route": route, **figures} for route, figures in counts.items()]
    rows.sort(key=lambda row: (-row.get("open", 0), row["route"]))
    return rows


def _rss_bytes() -> int | None:
    """Resident memory now (Linux: /proc/self/statm), None where unknown."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def _max_rss_bytes() -> int:
    """Peak resident memory (getrusage: KiB on Linux, bytes on macOS; 0 on
    Windows, which has no ``resource`` module)."""
    try:
        import resource
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _status_dict(counts: Sequence[int]) -> dict[str, int]:
    return {
        "1xx": counts[1],
        "2xx": counts[2],
        "3xx": counts[3],
        "4xx": counts[4],
        "5xx": counts[5],
        "other": counts[0],
    }


def _server_section(server: _ServerLike | None, recorders: int, in_flight: int) -> dict[str, Any]:
    section: dict[str, Any] = {"bound": server is not None, "addresses": []}
    gauges: dict[str, Any] = {}
    if server is not None:
        try:
            gauges = dict(server.gauges())
        except Exception:  # a stopping server must not break a snapshot
            gauges = {}
        try:
            section["addresses"] = [_address(a) for a in server.addresses]
        except Exception:
            section["addresses"] = []
    for name in GAUGE_NAMES:
        value = gauges.get(name)
        section[name] = int(value) if isinstance(value, int | float) else None
    if section["workers"] is None:
        section["workers"] = server.thread_count if server is not None else recorders
    if section["busy_workers"] is None:
        section["busy_workers"] = in_flight
    # Whether latencies include the wait for a worker (the server reads the
    # kernel's receive timestamps where the platform has them: Linux).
    section["queue_wait"] = bool(gauges.get("queue_wait"))
    return section
