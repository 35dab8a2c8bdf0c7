"""The public hooks API: callables run on the worker thread at request start/end.

Register them on a :class:`barq.metrics.Metrics` object::

    metrics = Metrics()

    @metrics.on_request_end
    def to_statsd(event: RequestEnd) -> None:
        statsd.timing(f"http.{event.method}.{event.route}", event.duration_s * 1000)

A hook runs synchronously on the worker thread that served the request, after the
per-thread counters are updated, so keep it cheap (or hand the event to a queue).
A hook that raises never breaks the request: the error is logged on the
``barq.metrics`` logger (the first failure of each hook with a traceback, then at
most once a minute) and counted in the snapshot's ``hooks.errors``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["HookErrorLog", "RequestEnd", "RequestHook", "RequestStart"]

logger = logging.getLogger("barq.metrics")


@dataclass(frozen=True, slots=True)
class RequestStart:
    """Passed to ``on_request_start`` hooks.

    ``route`` is usually None here: the framework matches the route while the
    application runs. ``start_ns`` is a ``time.perf_counter_ns()`` value.
    """

    worker: int
    thread: str
    method: str
    path: str
    route: str | None
    start_ns: int


@dataclass(frozen=True, slots=True)
class RequestEnd:
    """Passed to ``on_request_end`` hooks once the response has been written.

    - ``route``: the matched route template, or ``"<unmatched>"``.
    - ``status``: the status code sent (500 when the application raised).
    - ``duration_ns``: the service time, from a worker picking the complete
      request up to the response written.
    - ``queued_ns``: how long the request's bytes had waited for a worker before
      that (from the kernel's receive timestamp; 0 where the platform has none;
      None when this request's arrival was not stamped: above about a thousand
      reads per second and thread only a sample is). ``latency_ns`` is the sum:
      the latency the client feels, seen from the server (None with ``queued_ns``).
    - ``bytes_in`` / ``bytes_out``: bytes read for the request / written for the
      response (head and body).
    - ``error``: None on success; otherwise what the server reported (``True`` when
      the application raised or the response could not be written, or an exception).
    """

    worker: int
    thread: str
    method: str
    path: str
    route: str
    status: int
    start_ns: int
    duration_ns: int
    bytes_in: int
    bytes_out: int
    error: object | None
    queued_ns: int | None = 0

    @property
    def duration_s(self) -> float:
        """``duration_ns`` in seconds."""
        return self.duration_ns / 1e9

    @property
    def latency_ns(self) -> int | None:
        """Queue wait plus service time, in nanoseconds (None: not measured)."""
        return None if self.queued_ns is None else self.queued_ns + self.duration_ns


RequestHook = Callable[[RequestStart], object] | Callable[[RequestEnd], object]


class HookErrorLog:
    """Counts hook failures and logs them without flooding the log."""

    INTERVAL_S = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_logged: dict[int, float] = {}
        self.errors = 0

    def report(self, hook: object, exc: BaseException) -> None:
        """Record that ``hook`` raised ``exc`` (called only on the error path)."""
        now = time.monotonic()
        with self._lock:
            self.errors += 1
            last = self._last_logged.get(id(hook))
            if last is not None and now - last < self.INTERVAL_S:
                return
            self._last_logged[id(hook)] = now
            first = last is None
        name = getattr(hook, "__qualname__", repr(hook))
        if first:
            logger.error("metrics hook %s raised; the request was not affected", name, exc_info=exc)
        else:
            logger.error(
                "metrics hook %s is still raising (%s: %s); %d hook errors so far",
                name,
                type(exc).__name__,
                exc,
                self.errors,
            )
