"""The :class:`Metrics` object: what ``ServerConfig(metrics=...)`` takes.

It owns the per-thread recorders, the hooks, and builds snapshots (plain,
JSON-serialisable data) by merging the recorders without stopping them.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from barq import __version__
from barq.metrics.histogram import BUCKET_COUNT, summarize
from barq.metrics.hooks import HookErrorLog, RequestEnd, RequestStart
from barq.metrics.recorder import WorkerRecorder
from barq.runtime import free_threaded_build, gil_enabled

__all__ = ["GAUGE_NAMES", "SCHEMA", "Metrics"]

SCHEMA = "barq.stats/1"
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
)
"""Keys of ``server.gauges()`` copied into ``snapshot()["server"]``."""

StartHook = TypeVar("StartHook", bound=Callable[[RequestStart], object])
EndHook = TypeVar("EndHook", bound=Callable[[RequestEnd], object])


class _ServerLike(Protocol):
    """What :meth:`Metrics.bind_server` needs from ``barq.server.Server``."""

    addresses: Any
    config: Any

    def gauges(self) -> dict[str, int]: ...


def _merge_into(target: list[int], source: Sequence[int]) -> None:
    for i, value in enumerate(source):
        if value:
            target[i] += value


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

    def worker(self, index: int, name: str) -> WorkerRecorder:
        """A new recorder for worker thread ``index`` (called once per thread)."""
        with self._lock:
            recorder = WorkerRecorder(self, index, name)
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
        # Recorders keep their own reference (one attribute load on the hot path).
        for recorder in self._recorders:
            recorder._start_hooks = self._start_hooks
            recorder._end_hooks = self._end_hooks

    # -- snapshot ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain data (see docs/metrics.md for the schema)."""
        now_ns = time.perf_counter_ns()
        with self._lock:
            recorders = list(self._recorders)
            server = self._server
            started_wall = self._started_wall
            started_mono = self._started_mono
            n_start, n_end = len(self._start_hooks), len(self._end_hooks)

        total_counts = [0] * BUCKET_COUNT
        total_sum = total_max = 0
        totals = {"requests": 0, "errors": 0, "bytes_in": 0, "bytes_out": 0}
        status_total = [0] * 6
        workers: list[dict[str, Any]] = []
        # (route, method) -> [count, errors, counts, sum_ns, max_ns]
        routes: dict[tuple[str, str], list[Any]] = {}
        in_flight = 0

        for rec in sorted(recorders, key=lambda r: r.index):
            # Racy reads, on purpose (see recorder.py): copy the mutable parts first.
            current = rec.current
            busy_since = rec.busy_since
            counts = list(rec.counts)
            sum_ns, max_ns = rec.sum_ns, rec.max_ns
            status = list(rec.status_counts)
            entry: dict[str, Any] = {
                "index": rec.index,
                "name": rec.name,
                "state": "busy" if current is not None else "idle",
                "requests": sum(status),
                "errors": rec.errors,
                "bytes_in": rec.bytes_in,
                "bytes_out": rec.bytes_out,
                "status": _status_dict(status),
                "latency": summarize(counts, sum_ns, max_ns),
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
            for key in totals:
                totals[key] += entry[key]
            for i, value in enumerate(status):
                status_total[i] += value
            _merge_into(total_counts, counts)
            total_sum += sum_ns
            total_max = max(total_max, max_ns)

            for route, by_method in rec.routes.copy().items():
                for method, stats in by_method.copy().items():
                    agg = routes.get((route, method))
                    if agg is None:
                        agg = routes[(route, method)] = [0, 0, [0] * BUCKET_COUNT, 0, 0]
                    route_counts = list(stats.counts)
                    agg[0] += sum(route_counts)
                    agg[1] += stats.errors
                    _merge_into(agg[2], route_counts)
                    agg[3] += stats.sum_ns
                    agg[4] = max(agg[4], stats.max_ns)

        route_rows = [
            {
                "method": method,
                "route": route,
                "count": agg[0],
                "errors": agg[1],
                "latency": summarize(agg[2], agg[3], agg[4]),
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
                "barq_version": __version__,
                "python": {
                    "implementation": platform.python_implementation(),
                    "version": platform.python_version(),
                    "free_threaded": free_threaded_build(),
                    "gil_enabled": gil_enabled(),
                },
            },
            "server": _server_section(server, len(recorders), in_flight),
            "totals": {
                **totals,
                "in_flight": in_flight,
                "status": _status_dict(status_total),
                "latency": summarize(total_counts, total_sum, total_max),
            },
            "workers": workers,
            "routes": route_rows,
            "hooks": {"start": n_start, "end": n_end, "errors": self.hook_errors.errors},
        }


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
        threads = getattr(getattr(server, "config", None), "threads", None)
        section["workers"] = threads if isinstance(threads, int) else recorders
    if section["busy_workers"] is None:
        section["busy_workers"] = in_flight
    return section
