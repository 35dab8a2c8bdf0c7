"""Per-worker-thread recorders: the metrics hot path.

The server creates one :class:`WorkerRecorder` per worker thread
(``Metrics.worker(index, name, worker)``) and calls its ``request_started`` /
``request_finished`` (the :class:`~barq.server.interfaces.WorkerMetrics`
interface). For every finished request the recorder appends one tuple to its
``pending`` list, and every :data:`BATCH` requests it adds the queued tuples to
per-(route, method) stats lists (:meth:`WorkerRecorder.flush`, :func:`aggregate`).
Only that thread ever *writes* a recorder, so there is no lock. Readers
(snapshots, on any thread) copy the aggregated stats and the queued tuples
without locking; a sequence counter bumped around each flush makes them copy
again when a flush ran in between, so snapshots are exact.

Latency histograms, byte and status counts are kept per route, per thread
(``routes[route][method]``); the thread's own totals are their sums, computed when
a snapshot is taken, and routes are merged across threads the same way.
A recorder created without the worker's state (tests, other servers) keeps a
:class:`WorkerState` of its own, updated by those two calls.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from barq.http.semantics import METHODS
from barq.metrics.histogram import (
    BUCKET_COUNT,
    MAX_EXP,
    MIN_EXP,
    OVERFLOW_INDEX,
    SUB_BITS,
    bucket_index,
)
from barq.metrics.hooks import RequestEnd, RequestStart

if TYPE_CHECKING:
    from barq.http.messages import HTTPRequest
    from barq.metrics.core import Metrics

__all__ = [
    "BATCH",
    "KNOWN_METHODS",
    "MAX_ROUTES_PER_THREAD",
    "UNMATCHED",
    "RouteStats",
    "WorkerRecorder",
    "WorkerState",
    "aggregate",
    "new_stats",
]

UNMATCHED = "<unmatched>"
"""Route key for requests no route matched (404s, bare applications)."""
OVERFLOW_ROUTE = "<other>"
"""Route key used once a thread has seen :data:`MAX_ROUTES_PER_THREAD` routes."""
MAX_ROUTES_PER_THREAD = 1000
KNOWN_METHODS = frozenset(METHODS)
"""Other method tokens are counted as ``"OTHER"`` so clients cannot inflate cardinality."""

# Layout of a stats list (new_stats): two histograms' buckets first, then these.
#
# - *service*: from a worker picking the request up to its response being out;
# - *latency*: the same plus the time the request's bytes waited (in the kernel's
#   ready list, for a busy server) before a worker picked them up: the latency
#   the client feels, as seen from the server.
LATENCY = BUCKET_COUNT  # 1026..2051: the latency histogram
SUM_NS = 2 * BUCKET_COUNT  # 2052: total service time, ns
MAX_NS = SUM_NS + 1  # 2053: longest service time, ns
LATENCY_SUM_NS = MAX_NS + 1  # 2054
LATENCY_MAX_NS = LATENCY_SUM_NS + 1  # 2055
FAILED = LATENCY_MAX_NS + 1  # 2056: failures that are not 5xx (app exceptions, failed writes)
BYTES_IN = FAILED + 1  # 2057
BYTES_OUT = BYTES_IN + 1  # 2058
STATUS = BYTES_OUT + 1  # 2059..2064: responses by class: other, 1xx, 2xx, 3xx, 4xx, 5xx
STATS_SIZE = STATUS + 6
# _aggregate_each() and _add_histogram() write these as literals; keep them in step.
assert (MIN_EXP, MAX_EXP, SUB_BITS, OVERFLOW_INDEX) == (9, 41, 5, 1025), "update the literals"
assert (LATENCY, SUM_NS, MAX_NS, LATENCY_SUM_NS, LATENCY_MAX_NS) == (
    1026, 2052, 2053, 2054, 2055
), "update the literals"  # fmt: skip
assert (FAILED, BYTES_IN, BYTES_OUT, STATUS) == (2056, 2057, 2058, 2059), "update the literals"


def new_stats() -> list[int]:
    """A zeroed stats list for one (route, method) pair on one thread.

    ``[service buckets..., latency buckets..., sum_ns, max_ns, latency_sum_ns,
    latency_max_ns, failed, bytes_in, bytes_out, status classes...]`` (offsets
    in the module constants). Only its worker thread writes it, once per batch
    (see :func:`aggregate`).
    """
    return [0] * STATS_SIZE


class RouteStats:
    """Named accessors over a stats list (see :func:`new_stats`), for readers.

    Snapshots sum per-thread and per-route lists into these with :meth:`merge`.
    """

    __slots__ = ("data",)

    def __init__(self, data: list[int] | None = None) -> None:
        self.data = new_stats() if data is None else data

    @property
    def counts(self) -> list[int]:
        """The service-time histogram's bucket counts (a copy)."""
        return self.data[:BUCKET_COUNT]

    @property
    def sum_ns(self) -> int:
        """Total service time in nanoseconds."""
        return self.data[SUM_NS]

    @property
    def max_ns(self) -> int:
        """Longest service time in nanoseconds."""
        return self.data[MAX_NS]

    @property
    def latency_counts(self) -> list[int]:
        """The latency histogram's bucket counts (service time plus queue wait)."""
        return self.data[LATENCY:SUM_NS]

    @property
    def latency_sum_ns(self) -> int:
        """Total latency (queue wait included) in nanoseconds."""
        return self.data[LATENCY_SUM_NS]

    @property
    def latency_max_ns(self) -> int:
        """Slowest request (queue wait included) in nanoseconds."""
        return self.data[LATENCY_MAX_NS]

    @property
    def status_counts(self) -> list[int]:
        """Responses by status class: index 1-5 = 1xx-5xx, 0 = anything else."""
        return self.data[STATUS:STATS_SIZE]

    @property
    def errors(self) -> int:
        """Failed requests: 5xx responses plus other failures."""
        return self.data[FAILED] + self.data[STATUS + 5]

    @property
    def requests(self) -> int:
        """Requests recorded."""
        return sum(self.data[STATUS:STATS_SIZE])

    @property
    def bytes_in(self) -> int:
        """Request bytes read."""
        return self.data[BYTES_IN]

    @property
    def bytes_out(self) -> int:
        """Response bytes written."""
        return self.data[BYTES_OUT]

    def merge(self, other: list[int]) -> None:
        """Add the stats list ``other`` into this one (maximum for the maxima)."""
        data = self.data
        for i, value in enumerate(other):
            if value:
                if i in (MAX_NS, LATENCY_MAX_NS):
                    if value > data[i]:
                        data[i] = value
                else:
                    data[i] += value


class WorkerStateLike(Protocol):
    """What a recorder reads of its worker (the server's worker threads are one)."""

    @property
    def current(self) -> HTTPRequest | None: ...

    @property
    def busy_since(self) -> int: ...

    @property
    def started_ns(self) -> int: ...

    @property
    def idle(self) -> tuple[int, int]: ...


BATCH = 64
"""Finished requests a worker queues before it aggregates them (see WorkerRecorder)."""
SNAPSHOT_WAIT_S = 0.1


class WorkerState:
    """What a worker is doing: ``current`` (the request being served, or None)
    and ``busy_since`` (when it started, ``perf_counter_ns``).

    The server's workers are their own state (server state, kept with or
    without metrics); a recorder used on its own gets one of these.
    """

    __slots__ = ("busy_since", "current", "idle", "started_ns")

    def __init__(self) -> None:
        self.current: HTTPRequest | None = None
        self.busy_since = 0
        self.started_ns = 0  # unknown: no utilisation for a recorder on its own
        self.idle = (0, 0)


class WorkerRecorder:
    """Metrics of one worker thread. Written only by that thread; read racily.

    The hot path is one tuple ``(route, method, status, duration_ns, bytes_in,
    bytes_out, error)`` appended to ``pending`` — and, for a request in the
    latency sample (its arrival was stamped: every request at low rates, about
    one per millisecond above), ``(route, method, latency_ns)`` to ``sampled``.
    Every :data:`BATCH` requests the worker thread adds the queued tuples into
    its per-route stats lists in one pass (:meth:`flush`, see :func:`aggregate`).
    Touching the recorder's scattered objects once per batch instead of once
    per request is what makes recording cheap inside a real server, where the
    application evicts them from the CPU caches between two requests
    (free-threaded 3.13, server CPU per request with recording on minus off:
    5-9 µs when every request updated the stats directly, 1-2 µs batched).
    Readers still see exact figures: they add the queued tuples to the
    aggregated stats, under a sequence counter (``flushes``, odd while a flush
    runs) so that a flush in between makes them copy again instead of counting
    a batch twice or not at all.

    Registered hooks run inside :meth:`request_started` / :meth:`request_finished`.

    Read it with :meth:`totals` (this thread's figures as a :class:`RouteStats`),
    :meth:`route_stats` (per route and method), ``current`` (the request being
    served, or None) and ``busy_since`` (its ``perf_counter_ns`` start; stale
    while ``current`` is None); ``index`` and ``name`` identify the thread.
    """

    __slots__ = (
        "_last",
        "_metrics",
        "_own_state",
        "end_hooks",
        "flushes",
        "index",
        "name",
        "pending",
        "routes",
        "sampled",
        "start_hooks",
        "state",
    )

    def __init__(
        self, metrics: Metrics, index: int, name: str, state: WorkerStateLike | None = None
    ) -> None:
        self._metrics = metrics
        self.index = index
        self.name = name
        #: Where ``current`` / ``busy_since`` live: the server's worker, or our own.
        self._own_state: WorkerState | None = None
        if state is None:
            state = self._own_state = WorkerState()
        self.state: WorkerStateLike = state
        #: Aggregated stats: ``{route: {method: stats list}}`` (see :func:`new_stats`).
        self.routes: dict[str, dict[str, list[int]]] = {}
        #: Finished requests not aggregated yet (tuples, see above).
        self.pending: list[tuple[Any, ...]] = []
        #: ``(route, method, latency_ns)`` of the finished requests in the latency
        #: sample (those whose arrival was stamped), not aggregated yet.
        self.sampled: list[tuple[Any, ...]] = []
        self.flushes = 0
        self.start_hooks: tuple[Callable[[RequestStart], object], ...] = ()
        self.end_hooks: tuple[Callable[[RequestEnd], object], ...] = ()
        self.set_hooks(metrics._start_hooks, metrics._end_hooks)
        # (route, method, stats) of the last aggregated request.
        self._last: tuple[object, object, list[int]] = (None, None, new_stats())

    def set_hooks(
        self,
        start: tuple[Callable[[RequestStart], object], ...],
        end: tuple[Callable[[RequestEnd], object], ...],
    ) -> None:
        """Replace the hook tuples (called by :class:`Metrics` when hooks change).

        Picked up by the worker thread at its next request (plain attribute stores).
        """
        self.start_hooks = start
        self.end_hooks = end

    @property
    def current(self) -> HTTPRequest | None:
        """The request this worker is serving, or None when idle."""
        current: HTTPRequest | None = self.state.current
        return current

    @property
    def busy_since(self) -> int:
        """``perf_counter_ns()`` when ``current`` started (stale while idle)."""
        since: int = self.state.busy_since
        return since

    def busy_ns(self, now_ns: int) -> int | None:
        """Nanoseconds this thread has spent working (not waiting for a ready
        connection) since it started, as of ``now_ns`` (``perf_counter_ns``);
        None when its worker does not keep the figures."""
        state = self.state
        started: int = state.started_ns
        if not started:
            return None
        idle_ns, waiting_since = state.idle
        if waiting_since:
            idle_ns += max(0, now_ns - waiting_since)
        return max(0, now_ns - started - idle_ns)

    # -- the worker thread's side ----------------------------------------------

    def request_started(self, request: HTTPRequest, start_ns: int) -> None:
        """``request`` started at ``start_ns`` (perf_counter_ns); runs the start hooks."""
        own = self._own_state
        if own is not None:
            own.busy_since = start_ns
            own.current = request
        if self.start_hooks:
            self.run_start_hooks(request, start_ns)

    def request_finished(
        self,
        request: HTTPRequest,
        status: int,
        start_ns: int,
        end_ns: int,
        bytes_in: int,
        bytes_out: int,
        error: object,
        queued_ns: int = 0,
    ) -> None:
        """Account for a finished request and mark this worker idle.

        ``error`` is truthy when the request failed in a way its status does not
        show (an application exception, a failed write); 5xx always count as errors.
        ``queued_ns``: how long the request's bytes waited before a worker took
        them (its latency is that plus ``end_ns - start_ns``); negative when the
        request is not in the latency sample (its arrival was not stamped).
        """
        own = self._own_state
        if own is not None:
            own.current = None
        duration = end_ns - start_ns
        if queued_ns >= 0:  # in the latency sample
            self.sampled.append((request.route, request.method, max(duration, 0) + queued_ns))
        pending = self.pending
        pending.append(
            (request.route, request.method, status, duration, bytes_in, bytes_out, error)
        )
        if len(pending) >= BATCH:
            self.flush()
        if self.end_hooks:
            self.run_end_hooks(
                request, status, start_ns, duration, bytes_in, bytes_out, error, queued_ns
            )

    def flush(self) -> None:
        """Aggregate the queued requests (only ever on the recorder's own thread)."""
        pending = self.pending
        if not pending:
            return
        self.flushes += 1  # odd: readers copy again
        self._last = aggregate(pending, self.routes, self._last)
        pending.clear()
        sampled = self.sampled
        if sampled:
            add_latencies(sampled, self.routes)
            sampled.clear()
        self.flushes += 1  # even again

    # -- readers (any thread) ---------------------------------------------------

    def route_stats(self) -> list[tuple[str, str, list[int]]]:
        """``(route, method, stats list)`` for every pair seen, queued requests included.

        Consistent: a flush on the worker thread while this copies is retried.
        """
        deadline = 0.0
        while True:
            before = self.flushes
            copied = [
                (route, method, list(stats))
                for route, by_method in self.routes.copy().items()
                for method, stats in by_method.copy().items()
            ]
            queued = self.pending.copy()
            sampled = self.sampled.copy()
            if not before % 2 and self.flushes == before:
                break  # no flush ran while we copied
            # A flush is running or ran: copy again. A worker thread descheduled
            # mid-flush could keep us here; after SNAPSHOT_WAIT_S accept a
            # reading that may be off by one batch rather than wait longer.
            now = time.monotonic()
            if not deadline:
                deadline = now + SNAPSHOT_WAIT_S
            elif now > deadline:
                break
            time.sleep(0)
        if queued or sampled:
            routes: dict[str, dict[str, list[int]]] = {}
            for route, method, stats in copied:
                routes.setdefault(route, {})[method] = stats
            aggregate(queued, routes, (None, None, new_stats()))
            add_latencies(sampled, routes)
            copied = [
                (route, method, stats)
                for route, by_method in routes.items()
                for method, stats in by_method.items()
            ]
        return copied

    def totals(self) -> RouteStats:
        """This thread's figures (requests, errors, bytes, status classes, latency
        histogram): the sum of its per-route stats, queued requests included."""
        total = RouteStats()
        for _route, _method, stats in self.route_stats():
            total.merge(stats)
        return total

    # -- hooks -----------------------------------------------------------------

    def run_start_hooks(self, request: HTTPRequest, start_ns: int) -> None:
        """Call the start hooks for ``request`` (errors are logged, never raised)."""
        hooks = self.start_hooks
        event = RequestStart(
            self.index, self.name, request.method, request.path, request.route, start_ns
        )
        for hook in hooks:
            try:
                hook(event)
            except Exception as exc:
                self._metrics.hook_errors.report(hook, exc)

    def run_end_hooks(
        self,
        request: HTTPRequest,
        status: int,
        start_ns: int,
        duration_ns: int,
        bytes_in: int,
        bytes_out: int,
        error: object,
        queued_ns: int = 0,
    ) -> None:
        """Call the end hooks for ``request`` (errors are logged, never raised)."""
        event = RequestEnd(
            self.index,
            self.name,
            request.method,
            request.path,
            request.route or UNMATCHED,
            status,
            start_ns,
            max(0, duration_ns),
            bytes_in,
            bytes_out,
            error or None,
            queued_ns if queued_ns >= 0 else None,
        )
        for hook in self.end_hooks:
            try:
                hook(event)
            except Exception as exc:
                self._metrics.hook_errors.report(hook, exc)

    def __repr__(self) -> str:
        state = "busy" if self.current is not None else "idle"
        return f"<WorkerRecorder {self.name} {state} requests={self.totals().requests}>"


def aggregate(
    records: list[tuple[Any, ...]],
    routes: dict[str, dict[str, list[int]]],
    last: tuple[object, object, list[int]],
) -> tuple[object, object, list[int]]:
    """Add ``records`` (``WorkerRecorder.pending`` tuples) into ``routes``.

    A batch of one (route, method) — the usual case for a busy endpoint — is
    added column-wise: transposed with ``zip``, each figure computed by builtins
    over a whole column (``sum``, ``max``, ``tuple.count``, ``sorted`` +
    ``bisect`` for the histograms), so the interpreter runs a few dozen bytecodes
    per batch and per latency bucket rather than per request. A batch mixing
    routes is added record by record. ``last`` is ``(route, method, stats)`` of
    the previous batch; the new one is returned.
    """
    if not records:
        return last
    if records[0][0] is not records[-1][0]:  # mixed routes for sure: skip the columns
        return _aggregate_each(records, routes, last)
    columns = list(zip(*records, strict=True))
    route_col, method_col = columns[0], columns[1]
    count = len(route_col)
    route, method = route_col[0], method_col[0]
    if route_col.count(route) != count or method_col.count(method) != count:
        # Several routes in one batch: columns would hold a handful of values
        # each, and adding record by record is cheaper (measured from 3 routes on).
        return _aggregate_each(records, routes, last)
    if last[0] is route and last[1] is method:
        stats = last[2]
    else:
        stats = _stats_for(routes, route, method)
        last = (route, method, stats)
    _add_columns(stats, *columns[2:])
    return last


def _aggregate_each(
    records: list[tuple[Any, ...]],
    routes: dict[str, dict[str, list[int]]],
    last: tuple[object, object, list[int]],
) -> tuple[object, object, list[int]]:
    """:func:`aggregate` one record at a time (for batches spread over many routes)."""
    last_route, last_method, stats = last
    for route, method, status, d, bytes_in, bytes_out, error in records:
        if route is not last_route or method is not last_method:
            stats = _stats_for(routes, route, method)
            last_route, last_method = route, method
        # As histogram.bucket_index, with its constants written out.
        if d < 512:  # 1 << MIN_EXP
            i = 0
            d = max(d, 0)
        else:
            e = d.bit_length()
            # MAX_EXP, OVERFLOW_INDEX; MIN_EXP + 1, SUB_BITS, SUB_BITS + 1, SUB_BUCKETS - 1
            i = 1025 if e > 41 else ((e - 10) << 5) + ((d >> (e - 6)) & 31) + 1
        # The stats offsets as literals too: literal ints are immortal, module
        # globals are shared objects whose refcounts workers would contend on.
        stats[i] += 1
        stats[2052] += d  # SUM_NS
        if d > stats[2053]:  # MAX_NS
            stats[2053] = d
        if error and status < 500:
            stats[2056] += 1  # FAILED
        stats[2057] += bytes_in  # BYTES_IN
        stats[2058] += bytes_out  # BYTES_OUT
        cls = status // 100
        stats[2059 + cls if 0 < cls < 6 else 2059] += 1  # STATUS
    return last_route, last_method, stats


def _add_columns(
    stats: list[int],
    statuses: tuple[int, ...],
    durations: tuple[int, ...],
    read: tuple[int, ...],
    written: tuple[int, ...],
    errors: tuple[object, ...],
) -> None:
    """Add the columns of one (route, method)'s records into its stats list."""
    count = len(durations)
    if min(durations) < 0:  # a clock step: counted in the lowest bucket, adds nothing
        durations = tuple(d if d > 0 else 0 for d in durations)
    _add_histogram(stats, durations)
    stats[SUM_NS] += sum(durations)
    longest = max(durations)
    if longest > stats[MAX_NS]:
        stats[MAX_NS] = longest
    stats[BYTES_IN] += sum(read)
    stats[BYTES_OUT] += sum(written)
    ok = statuses.count(200)
    if ok == count:
        stats[STATUS + 2] += ok
    else:
        for status, hits in Counter(statuses).items():
            cls = status // 100
            stats[STATUS + (cls if 0 < cls < 6 else 0)] += hits
    if errors.count(False) + errors.count(None) != count:  # False == 0: counted once
        stats[FAILED] += sum(1 for s, e in zip(statuses, errors, strict=True) if e and s < 500)


def _add_histogram(stats: list[int], durations: tuple[int, ...]) -> None:
    """Count ``durations`` into the service-time buckets at the start of ``stats``.

    Sorted first, then one step per *bucket*: the bucket of the smallest value
    left, its exclusive upper bound, and ``bisect`` for how many values lie
    below it (same buckets as ``histogram.bucket_index``).
    """
    ordered = sorted(durations)
    count = len(ordered)
    pos = 0
    while pos < count:
        d = ordered[pos]
        if d < 512:  # 1 << MIN_EXP: the underflow bucket (and clock steps)
            index, upper = 0, 512
        else:
            e = d.bit_length()
            if e > 41:  # MAX_EXP: the overflow bucket takes the rest
                stats[OVERFLOW_INDEX] += count - pos
                return
            shift = e - 6  # SUB_BITS + 1
            top = d >> shift  # 32..63: the sub-bucket, with the leading bit
            index = ((e - 10) << 5) + (top & 31) + 1  # as histogram.bucket_index
            upper = (top + 1) << shift
        end = bisect_left(ordered, upper, pos)
        stats[index] += end - pos
        pos = end


def add_latencies(samples: list[tuple[Any, ...]], routes: dict[str, dict[str, list[int]]]) -> None:
    """Add ``(route, method, latency_ns)`` samples (``WorkerRecorder.sampled``)
    into the latency histograms of ``routes``, one by one: at high rates only
    about one request per millisecond and thread is in the sample."""
    for route, method, t in samples:
        stats = _stats_for(routes, route, method)
        stats[LATENCY + bucket_index(t)] += 1
        stats[LATENCY_SUM_NS] += t
        if t > stats[LATENCY_MAX_NS]:
            stats[LATENCY_MAX_NS] = t


def _stats_for(
    routes: dict[str, dict[str, list[int]]], route: str | None, method: str
) -> list[int]:
    key_method = method if method in KNOWN_METHODS else "OTHER"
    key_route = route or UNMATCHED
    by_method = routes.get(key_route)
    if by_method is None:
        if len(routes) >= MAX_ROUTES_PER_THREAD:
            key_route = OVERFLOW_ROUTE
            by_method = routes.get(key_route)
        if by_method is None:
            by_method = routes[key_route] = {}
    stats = by_method.get(key_method)
    if stats is None:
        stats = by_method[key_method] = new_stats()
    return stats
