"""Per-worker-thread recorders: the metrics hot path.

The server creates one :class:`WorkerRecorder` per worker thread
(``Metrics.worker(index, name)``) and calls :meth:`WorkerRecorder.request_started`
and :meth:`WorkerRecorder.request_finished` around every request. Only that thread
ever *writes* a recorder, so there is no lock: every update is a plain attribute or
preallocated-list store. Snapshots read the attributes from another thread without
locking. Such a racy read can see one request counted in ``requests`` but not yet
in the latency histogram (or vice versa); totals are therefore exact once the
server is quiet and off by at most one request per busy worker while it is not.
That is the usual trade-off of lock-free metrics and is fine for monitoring.

Latency histograms and error counts are kept per route, per thread
(``routes[route][method]``); the thread's own totals are their sums, computed when
a snapshot is taken, and routes are merged across threads the same way. The only
allocation on the hot path is the first request of a new route/method pair on a
thread (a :class:`RouteStats` with its bucket list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from barq.metrics.histogram import BUCKET_COUNT, MAX_EXP, MIN_EXP, OVERFLOW_INDEX, SUB_BITS
from barq.metrics.hooks import RequestEnd, RequestStart

if TYPE_CHECKING:
    from barq.http.messages import HTTPRequest
    from barq.metrics.core import Metrics

__all__ = ["KNOWN_METHODS", "MAX_ROUTES_PER_THREAD", "UNMATCHED", "RouteStats", "WorkerRecorder"]

UNMATCHED = "<unmatched>"
"""Route key for requests no route matched (404s, bare applications)."""
OVERFLOW_ROUTE = "<other>"
"""Route key used once a thread has seen :data:`MAX_ROUTES_PER_THREAD` routes."""
MAX_ROUTES_PER_THREAD = 1000
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)
"""Other method tokens are counted as ``"OTHER"`` so clients cannot inflate cardinality."""

# request_finished() inlines these as literals; keep them in step.
assert (MIN_EXP, MAX_EXP, SUB_BITS, OVERFLOW_INDEX) == (9, 41, 5, 1025), "update the literals"


class RouteStats(list[Any]):
    """Counters and latency histogram of one (route, method) pair on one thread.

    A list ``[counts, errors, sum_ns, max_ns]`` so that the hot path updates it
    with item stores (cheaper than attribute stores on free-threaded 3.13, which
    has no specialised attribute access); read it through the properties.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(([0] * BUCKET_COUNT, 0, 0, 0))

    @property
    def counts(self) -> list[int]:
        """The latency histogram's bucket counts."""
        return self[0]

    @property
    def errors(self) -> int:
        """Failed requests."""
        return self[1]

    @property
    def sum_ns(self) -> int:
        """Total latency in nanoseconds."""
        return self[2]

    @property
    def max_ns(self) -> int:
        """Slowest request in nanoseconds."""
        return self[3]

    @property
    def requests(self) -> int:
        """Requests recorded (the histogram's total)."""
        return sum(self[0])


class WorkerRecorder:
    """Metrics of one worker thread. Written only by that thread; read racily.

    Public read-only attributes: ``index``, ``name``, ``requests``, ``errors``
    (application exceptions, failed writes and 5xx responses), ``bytes_in``,
    ``bytes_out``, ``status_counts`` (index 1-5 = 1xx-5xx, 0 = anything else),
    ``counts``/``sum_ns``/``max_ns`` (latency histogram), ``current`` (the request
    being served, or None) and ``busy_since`` (its ``perf_counter_ns`` start; stale
    while ``current`` is None), ``routes`` (``{route: {method: RouteStats}}``).
    """

    __slots__ = (
        "_end_hooks",
        "_last",
        "_metrics",
        "_start_hooks",
        "_totals",
        "busy_since",
        "current",
        "index",
        "name",
        "routes",
    )

    def __init__(self, metrics: Metrics, index: int, name: str) -> None:
        self._metrics = metrics
        self.index = index
        self.name = name
        # [bytes_in, bytes_out, other statuses, 1xx, 2xx, 3xx, 4xx, 5xx]
        self._totals = [0] * 8
        self.current: HTTPRequest | None = None
        self.busy_since = 0
        self.routes: dict[str, dict[str, RouteStats]] = {}
        # Copies of the Metrics' hook tuples, replaced by Metrics when hooks change.
        self._start_hooks = metrics._start_hooks
        self._end_hooks = metrics._end_hooks
        # (route, method, stats) of the previous request: consecutive requests to
        # the same route (the common case) skip both dict lookups.
        self._last: tuple[object, object, RouteStats] = (None, None, RouteStats())

    @property
    def bytes_in(self) -> int:
        """Request bytes read on this thread."""
        return self._totals[0]

    @property
    def bytes_out(self) -> int:
        """Response bytes written on this thread."""
        return self._totals[1]

    @property
    def status_counts(self) -> list[int]:
        """Responses by status class: index 1-5 = 1xx-5xx, 0 = anything else."""
        return self._totals[2:8]

    @property
    def requests(self) -> int:
        """Requests finished on this thread (the sum of ``status_counts``)."""
        return sum(self._totals[2:8])

    # The thread's latency histogram and error count are the sums of its
    # per-route ones: computed when read (snapshots), not kept twice on the hot path.

    def _route_stats(self) -> list[RouteStats]:
        return [
            stats
            for by_method in self.routes.copy().values()
            for stats in by_method.copy().values()
        ]

    @property
    def counts(self) -> list[int]:
        """Latency histogram of every request finished on this thread."""
        total = [0] * BUCKET_COUNT
        for stats in self._route_stats():
            for i, value in enumerate(list(stats[0])):
                if value:
                    total[i] += value
        return total

    @property
    def sum_ns(self) -> int:
        """Total latency of every request finished on this thread."""
        return sum(stats[2] for stats in self._route_stats())

    @property
    def max_ns(self) -> int:
        """Slowest request finished on this thread."""
        return max((stats[3] for stats in self._route_stats()), default=0)

    @property
    def errors(self) -> int:
        """Failed requests on this thread (5xx, application errors, failed writes)."""
        return sum(stats[1] for stats in self._route_stats())

    def request_started(self, request: HTTPRequest, start_ns: int) -> None:
        """Mark this worker busy with ``request`` (``start_ns``: perf_counter_ns)."""
        self.busy_since = start_ns
        self.current = request
        if self._start_hooks:
            self._run_start_hooks(self._start_hooks, request, start_ns)

    def request_finished(
        self,
        request: HTTPRequest,
        status: int,
        start_ns: int,
        end_ns: int,
        bytes_in: int,
        bytes_out: int,
        error: object | None,
    ) -> None:
        """Account for a finished request and mark this worker idle."""
        d = end_ns - start_ns
        # The bucket index (see histogram.bucket_index), with the histogram's
        # constants written as literals: under free-threading, literals are
        # immortal while module globals are shared objects whose reference
        # counts every worker thread would bounce between cores.
        if d < 512:  # 1 << MIN_EXP
            i = 0
            if d < 0:
                d = 0
        else:
            e = d.bit_length()
            if e > 41:  # MAX_EXP
                i = 1025  # OVERFLOW_INDEX
            else:
                # MIN_EXP + 1, SUB_BITS, SUB_BITS + 1, SUB_BUCKETS - 1
                i = ((e - 10) << 5) + ((d >> (e - 6)) & 31) + 1
        route = request.route or UNMATCHED
        method = request.method
        last = self._last
        if last[0] is route and last[1] is method:
            stats = last[2]
        else:
            stats = self._stats_for(route, method)
        stats[0][i] += 1
        stats[2] += d
        if d > stats[3]:
            stats[3] = d
        # The server passes a bool (or an exception / description): truthy means failed.
        if status >= 500 or (error is not None and error is not False):
            stats[1] += 1
        totals = self._totals
        totals[0] += bytes_in
        totals[1] += bytes_out
        cls = status // 100
        totals[cls + 2 if 0 < cls < 6 else 2] += 1
        self.current = None  # busy_since is only meaningful while current is set
        if self._end_hooks:
            self._run_end_hooks(
                self._end_hooks, request, route, status, start_ns, d, bytes_in, bytes_out,
                error or None,
            )  # fmt: skip

    # -- slow paths -------------------------------------------------------------

    def _stats_for(self, route: str, method: str) -> RouteStats:
        key_method = method if method in KNOWN_METHODS else "OTHER"
        by_method = self.routes.get(route)
        if by_method is None:
            by_method = self._new_route(route)
        stats = by_method.get(key_method)
        if stats is None:
            stats = by_method[key_method] = RouteStats()
        self._last = (route, method, stats)
        return stats

    def _new_route(self, route: str) -> dict[str, RouteStats]:
        if len(self.routes) >= MAX_ROUTES_PER_THREAD:
            route = OVERFLOW_ROUTE
            existing = self.routes.get(route)
            if existing is not None:
                return existing
        by_method: dict[str, RouteStats] = {}
        self.routes[route] = by_method
        return by_method

    def _run_start_hooks(self, hooks: tuple[Any, ...], request: HTTPRequest, start_ns: int) -> None:
        event = RequestStart(
            self.index, self.name, request.method, request.path, request.route, start_ns
        )
        for hook in hooks:
            try:
                hook(event)
            except Exception as exc:
                self._metrics.hook_errors.report(hook, exc)

    def _run_end_hooks(
        self,
        hooks: tuple[Any, ...],
        request: HTTPRequest,
        route: str,
        status: int,
        start_ns: int,
        duration_ns: int,
        bytes_in: int,
        bytes_out: int,
        error: object | None,
    ) -> None:
        event = RequestEnd(
            self.index,
            self.name,
            request.method,
            request.path,
            route,
            status,
            start_ns,
            duration_ns,
            bytes_in,
            bytes_out,
            error,
        )
        for hook in hooks:
            try:
                hook(event)
            except Exception as exc:
                self._metrics.hook_errors.report(hook, exc)

    def __repr__(self) -> str:
        state = "busy" if self.current is not None else "idle"
        return f"<WorkerRecorder {self.name} {state} requests={self.requests}>"
