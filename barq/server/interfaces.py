"""The small typed interfaces the server meets other layers through.

- :class:`~barq.http.messages.Application` — what the server runs (re-exported).
- :class:`MetricsSink` — what ``ServerConfig(metrics=...)`` takes: one
  :class:`WorkerMetrics` per worker thread, told about every request. Barq's own
  :class:`barq.metrics.Metrics` is one; the server never imports it.
- :class:`WorkerState` — what a worker shows its sink (the request it serves),
  and :class:`ServerView` — what a sink may read from the server (gauges).

Nothing here is concrete: the server and the metrics package depend on these
shapes, not on each other.
"""

from __future__ import annotations

from typing import Any, Protocol

from barq.http.messages import Application, HTTPRequest

__all__ = ["Application", "MetricsSink", "ServerView", "WorkerMetrics", "WorkerState"]


class WorkerState(Protocol):
    """A worker thread's own state, kept by the server with or without metrics."""

    @property
    def current(self) -> HTTPRequest | None:
        """The request being served, or None when idle."""
        ...

    @property
    def busy_since(self) -> int:
        """``perf_counter_ns()`` when :attr:`current` started (stale while idle)."""
        ...

    @property
    def started_ns(self) -> int:
        """``perf_counter_ns()`` when the thread began serving (0: not known)."""
        ...

    @property
    def idle(self) -> tuple[int, int]:
        """``(idle_ns, waiting_since)``: nanoseconds spent waiting for work before
        the current wait, and when the current wait began (0 while working).
        One attribute, replaced whole, so a reader never sees half an update;
        kept only while a metrics sink is attached."""
        ...


class WorkerMetrics(Protocol):
    """One worker thread's recorder; called only on that thread."""

    def request_started(self, request: HTTPRequest, start_ns: int) -> None:
        """The worker began running the application for ``request``."""
        ...

    def request_finished(
        self,
        request: HTTPRequest,
        status: int,
        start_ns: int,
        end_ns: int,
        bytes_in: int,
        bytes_out: int,
        error: bool,
        queued_ns: int = 0,
    ) -> None:
        """The response went out (or failed to): account for it.

        ``error`` is True when the request failed in a way its status does not
        show (an application exception, a failed write). ``queued_ns``: how long
        the request's bytes waited for a worker before ``start_ns``; 0 where the
        platform does not say, -1 for a request whose arrival was not stamped
        (at high rates only a sample of reads is, see ``barq.server.worker``).
        """
        ...


class ServerView(Protocol):
    """What a metrics sink may read from the running server (racy, any thread)."""

    @property
    def addresses(self) -> list[Any]:
        """Local addresses of the listeners: ``(host, port)`` tuples or Unix paths."""
        ...

    @property
    def thread_count(self) -> int:
        """The number of worker threads."""
        ...

    def gauges(self) -> dict[str, int]:
        """Server-wide gauges: connections, queued requests, busy workers..."""
        ...


class MetricsSink(Protocol):
    """A metrics sink: told about the server once and about every worker thread."""

    def bind_server(self, server: ServerView) -> None:
        """Called once when the server starts."""
        ...

    def worker(self, index: int, name: str, state: WorkerState) -> WorkerMetrics:
        """The recorder for worker thread ``index`` (called once, on that thread)."""
        ...
