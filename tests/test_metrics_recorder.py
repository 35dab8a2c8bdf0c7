"""Per-thread recorders, snapshots and hooks, driven by direct calls."""

from __future__ import annotations

import json
import logging
import random
import threading
import time

import pytest

from barq.http.messages import HTTPRequest
from barq.metrics import UNMATCHED, Metrics, RequestEnd, RequestStart
from barq.metrics.histogram import MAX_RELATIVE_ERROR, bucket_index
from barq.metrics.recorder import (
    BATCH,
    KNOWN_METHODS,
    RouteStats,
    add_latencies,
    aggregate,
    new_stats,
)


def make_request(
    method: str = "GET", path: str = "/items/1", route: str | None = None
) -> HTTPRequest:
    request = HTTPRequest(method, path, path, "", "1.1", [("host", "x")])
    request.route = route
    return request


class FakeServer:
    """Stands in for barq.server.Server: what bind_server() reads."""

    def __init__(self) -> None:
        self.addresses = [("127.0.0.1", 8123)]
        self.thread_count = 4

    def gauges(self) -> dict[str, int]:
        return {
            "open_connections": 7,
            "idle_connections": 3,
            "queued": 2,
            "accepted": 40,
            "rejected": 1,
            "timed_out": 5,
            "workers": 4,
            "busy_workers": 1,
        }


def serve(recorder, request, status=200, duration_ns=1_000_000, error=None, start=10**9):
    recorder.request_started(request, start)
    recorder.request_finished(request, status, start, start + duration_ns, 100, 250, error)


def test_worker_counts_status_classes_errors_bytes_and_routes() -> None:
    metrics = Metrics()
    rec = metrics.worker(0, "barq-worker-0")
    serve(rec, make_request(route="/items/{id}"))
    serve(rec, make_request(route="/items/{id}"), status=404)
    serve(rec, make_request("POST", route="/items/{id}"), status=500)
    serve(rec, make_request(route="/items/{id}"), error=RuntimeError("boom"))
    serve(rec, make_request(path="/nope/123"), status=404)
    serve(rec, make_request("BREW", path="/pot"), status=405)

    snap = metrics.snapshot()
    (worker,) = snap["workers"]
    assert worker["requests"] == 6
    assert worker["status"] == {"1xx": 0, "2xx": 2, "3xx": 0, "4xx": 3, "5xx": 1, "other": 0}
    assert worker["errors"] == 2  # the 500 and the exception
    assert worker["bytes_in"] == 600 and worker["bytes_out"] == 1500
    assert worker["state"] == "idle" and worker["current"] is None
    routes = {(r["method"], r["route"]): r for r in snap["routes"]}
    assert routes[("GET", "/items/{id}")]["count"] == 3
    assert routes[("GET", "/items/{id}")]["errors"] == 1
    assert routes[("POST", "/items/{id}")]["errors"] == 1
    # Raw paths never become keys; odd methods are folded.
    assert routes[("GET", UNMATCHED)]["count"] == 1
    assert routes[("OTHER", UNMATCHED)]["count"] == 1
    assert not any("/nope" in r["route"] for r in snap["routes"])
    assert snap["totals"]["requests"] == 6


def test_busy_state_shows_current_request_and_elapsed() -> None:
    metrics = Metrics()
    rec = metrics.worker(0, "w0")
    request = make_request(path="/slow")
    import time

    rec.request_started(request, time.perf_counter_ns() - 2_000_000_000)
    request.route = "/slow"  # the framework sets it while the handler runs
    snap = metrics.snapshot()
    worker = snap["workers"][0]
    assert worker["state"] == "busy"
    assert worker["current"]["method"] == "GET"
    assert worker["current"]["route"] == "/slow"
    assert worker["current"]["elapsed_s"] >= 2.0
    assert snap["totals"]["in_flight"] == 1
    assert snap["server"]["busy_workers"] == 1


def test_snapshot_is_json_serialisable_and_has_server_gauges() -> None:
    metrics = Metrics()
    metrics.bind_server(FakeServer())
    rec = metrics.worker(0, "w0")
    serve(rec, make_request(route="/a"))
    snap = json.loads(json.dumps(metrics.snapshot()))
    assert snap["schema"] == "barq.stats/2"
    server = snap["server"]
    assert server["open_connections"] == 7 and server["idle_connections"] == 3
    assert server["queued"] == 2 and server["accepted"] == 40
    assert server["rejected"] == 1 and server["timed_out"] == 5 and server["workers"] == 4
    assert server["addresses"] == [["127.0.0.1", 8123]]
    process = snap["process"]
    assert process["pid"] > 0 and process["uptime_s"] >= 0
    assert isinstance(process["python"]["free_threaded"], bool)
    assert isinstance(process["python"]["gil_enabled"], bool)


def test_hot_path_bucket_matches_reference_and_percentiles_are_precise() -> None:
    metrics = Metrics()
    rec = metrics.worker(0, "w0")
    rng = random.Random(5)
    durations = [int(rng.lognormvariate(14, 1.2)) + 1000 for _ in range(3000)]
    for d in durations:
        serve(rec, make_request(route="/r"), duration_ns=d)
    for d in durations[:200]:
        assert rec.totals().counts[bucket_index(d)] > 0
    snap = metrics.snapshot()
    latency = snap["totals"]["latency"]
    ordered = sorted(durations)
    for key, q in (("p50_s", 0.5), ("p95_s", 0.95), ("p99_s", 0.99)):
        import math

        exact = ordered[math.ceil(q * len(ordered)) - 1] / 1e9
        assert abs(latency[key] - exact) / exact <= MAX_RELATIVE_ERROR
    assert latency["count"] == 3000
    assert latency["max_s"] == max(durations) / 1e9
    assert latency["sum_s"] == pytest.approx(sum(durations) / 1e9)
    assert snap["routes"][0]["latency"]["p99_s"] == latency["p99_s"]


def test_per_thread_recorders_sum_up_under_concurrency() -> None:
    metrics = Metrics()
    per_thread = 2000
    threads = 8
    barrier = threading.Barrier(threads)

    def work(index: int) -> None:
        rec = metrics.worker(index, f"w{index}")
        barrier.wait()
        for i in range(per_thread):
            serve(rec, make_request(route=f"/r{i % 3}"), duration_ns=5000 + i)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    # Snapshots taken while the workers run must not fail.
    while any(t.is_alive() for t in pool):
        metrics.snapshot()
    for t in pool:
        t.join()
    snap = metrics.snapshot()
    assert [w["requests"] for w in snap["workers"]] == [per_thread] * threads
    assert snap["totals"]["requests"] == per_thread * threads
    assert sum(r["count"] for r in snap["routes"]) == per_thread * threads
    assert snap["totals"]["latency"]["count"] == per_thread * threads


def test_hooks_receive_events_and_failures_never_break_requests(caplog) -> None:
    metrics = Metrics()
    starts: list[RequestStart] = []
    ends: list[RequestEnd] = []
    metrics.on_request_start(starts.append)

    @metrics.on_request_end
    def collect(event: RequestEnd) -> None:
        ends.append(event)

    @metrics.on_request_end
    def broken(event: RequestEnd) -> None:
        raise ValueError("statsd is down")

    rec = metrics.worker(3, "barq-worker-3")
    with caplog.at_level(logging.ERROR, logger="barq.metrics"):
        serve(rec, make_request(route="/x"), status=201, duration_ns=2_500_000)
        serve(rec, make_request(path="/unknown"), status=404)
    assert [s.thread for s in starts] == ["barq-worker-3"] * 2
    first = ends[0]
    assert (first.worker, first.route, first.status) == (3, "/x", 201)
    assert first.duration_ns == 2_500_000 and first.duration_s == 0.0025
    assert (first.bytes_in, first.bytes_out) == (100, 250)
    assert ends[1].route == UNMATCHED
    assert rec.totals().requests == 2
    snap = metrics.snapshot()
    assert snap["hooks"] == {"start": 1, "end": 2, "errors": 2}
    assert "statsd is down" in caplog.text
    # The second failure of the same hook within a minute is counted, not logged again.
    assert len(caplog.records) == 1

    metrics.remove_hook(broken)
    metrics.remove_hook(starts.append)
    serve(rec, make_request(route="/x"))
    assert metrics.snapshot()["hooks"]["errors"] == 2
    assert len(starts) == 2 and len(ends) == 3


def _reference(records):
    """What aggregate() must produce, computed one record at a time."""
    expected: dict[tuple[str, str], dict[str, object]] = {}
    for route, method, status, d, q, bytes_in, bytes_out, error in records:
        key = (route or UNMATCHED, method if method in KNOWN_METHODS else "OTHER")
        row = expected.setdefault(
            key,
            {
                "buckets": {},
                "sum": 0,
                "max": 0,
                "latency_buckets": {},
                "latency_sum": 0,
                "latency_max": 0,
                "failed": 0,
                "in": 0,
                "out": 0,
                "status": {},
            },
        )
        index = bucket_index(d)
        row["buckets"][index] = row["buckets"].get(index, 0) + 1
        row["sum"] += max(d, 0)
        row["max"] = max(row["max"], d)
        if q >= 0:  # the latency sample: service time plus the wait
            t = max(d, 0) + q
            index = bucket_index(t)
            row["latency_buckets"][index] = row["latency_buckets"].get(index, 0) + 1
            row["latency_sum"] += t
            row["latency_max"] = max(row["latency_max"], t)
        row["failed"] += 1 if (error and status < 500) else 0
        row["in"] += bytes_in
        row["out"] += bytes_out
        cls = status // 100
        cls = cls if 0 < cls < 6 else 0
        row["status"][cls] = row["status"].get(cls, 0) + 1
    return expected


@pytest.mark.parametrize("n_routes", [1, 3, 20])
def test_batched_aggregation_matches_a_per_record_reference(n_routes: int) -> None:
    rng = random.Random(n_routes)
    routes_pool = [None, *(f"/r{i}/{{id}}" for i in range(n_routes - 1))]
    methods = ["GET", "POST", "BREW"]
    records = []
    for _ in range(1000):
        d = rng.choice(
            [-5, 0, 511, 512, 513, rng.randrange(1, 10**9), 2**41 - 1, 2**41, 2**45]
            + [int(rng.lognormvariate(14, 1.5)) for _ in range(6)]
        )
        records.append(
            (
                rng.choice(routes_pool) if n_routes > 1 else "/only",
                rng.choice(methods) if n_routes > 1 else "GET",
                rng.choice([200, 200, 200, 201, 304, 404, 500, 99, 1000]),
                d,
                rng.choice([0, 0, -1, 1, 600, rng.randrange(1, 10**8), 2**42]),
                rng.randrange(0, 5000),
                rng.randrange(0, 50000),
                rng.choice([False, False, True, None, RuntimeError("x")]),
            )
        )
    got: dict[str, dict[str, list[int]]] = {}
    last = (None, None, new_stats())
    for start in range(0, len(records), 64):  # batches as a worker flushes them
        batch = records[start : start + 64]
        last = aggregate([(r, m, st, d, i, o, e) for r, m, st, d, _, i, o, e in batch], got, last)
        # The requests in the latency sample, as request_finished() queues them.
        add_latencies([(r, m, max(d, 0) + q) for r, m, _, d, q, *_ in batch if q >= 0], got)
    expected = _reference(records)
    assert {(r, m) for r, by in got.items() for m in by} == set(expected)
    for (route, method), row in expected.items():
        stats = RouteStats(got[route][method])
        assert {i: c for i, c in enumerate(stats.counts) if c} == row["buckets"]
        assert (stats.sum_ns, stats.max_ns) == (row["sum"], row["max"])
        assert {i: c for i, c in enumerate(stats.latency_counts) if c} == row["latency_buckets"]
        assert (stats.latency_sum_ns, stats.latency_max_ns) == (
            row["latency_sum"],
            row["latency_max"],
        )
        assert (stats.bytes_in, stats.bytes_out) == (row["in"], row["out"])
        assert {i: c for i, c in enumerate(stats.status_counts) if c} == row["status"]
        assert stats.errors == row["failed"] + row["status"].get(5, 0)
        assert stats.requests == sum(row["buckets"].values())


def test_queued_requests_count_before_the_batch_is_aggregated() -> None:
    metrics = Metrics()
    rec = metrics.worker(0, "w0")
    for i in range(BATCH + 5):
        serve(rec, make_request(route="/q"), duration_ns=10_000 + i)
        worker = metrics.snapshot()["workers"][0]
        assert worker["requests"] == i + 1  # exact, queued or aggregated
    assert len(rec.pending) == 5  # one batch aggregated, five queued
    assert rec.totals().requests == BATCH + 5 and rec.totals().sum_ns == sum(
        10_000 + i for i in range(BATCH + 5)
    )


def test_readers_never_count_a_batch_twice_or_miss_it() -> None:
    """Snapshots racing the worker's flushes only ever see counts go up, exactly."""
    metrics = Metrics()
    total = 40 * BATCH
    ready = threading.Event()
    seen: list[int] = []

    def worker() -> None:
        rec = metrics.worker(0, "w0")
        ready.set()
        for i in range(total):
            rec.request_started(make_request(route="/a" if i % 7 else "/b"), 0)
            rec.request_finished(
                make_request(route="/a" if i % 7 else "/b"), 200, 0, 1000, 1, 2, False
            )

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait()
    while thread.is_alive():
        seen.append(metrics.snapshot()["totals"]["requests"])
    thread.join()
    seen.append(metrics.snapshot()["totals"]["requests"])
    assert seen == sorted(seen)  # a batch counted twice would later drop back
    assert max(seen) == total == seen[-1]


def test_a_flush_between_the_readers_two_copies_is_retried_not_lost() -> None:
    """Deterministic version of the race above: flush right after stats were copied."""
    metrics = Metrics()
    rec = metrics.worker(0, "w0")

    class FlushWhenCopied(list):
        fired = False

        def copy(self):  # the reader copies pending after the stats: flush in between
            if not self.fired:
                self.fired = True
                rec.flush()
            return list(self)

    rec.pending = FlushWhenCopied()
    for _ in range(10):
        serve(rec, make_request(route="/f"))
    assert len(rec.pending) == 10
    assert metrics.snapshot()["totals"]["requests"] == 10
    assert rec.pending.fired and len(rec.pending) == 0


def test_a_worker_stuck_mid_flush_delays_a_snapshot_briefly_never_hangs_it() -> None:
    import time

    metrics = Metrics()
    rec = metrics.worker(0, "w0")
    serve(rec, make_request(route="/s"))
    rec.flushes += 1  # as if the worker were descheduled inside flush()
    started = time.monotonic()
    assert metrics.snapshot()["totals"]["requests"] == 1
    assert time.monotonic() - started < 2.0


def test_elapsed_of_a_busy_thread_is_read_after_its_start() -> None:
    """A request that starts while a snapshot runs (routine on a free-threaded
    build) shows how long it has run, not 0 (the clock was read before the loop)."""

    class JustStarted:
        current = make_request(route="/slow")
        started_ns = 0
        idle = (0, 0)

        @property
        def busy_since(self) -> int:
            return time.perf_counter_ns()  # started at the moment it is read

    metrics = Metrics()
    metrics.worker(0, "w0", JustStarted())
    (worker,) = metrics.snapshot()["workers"]
    assert worker["state"] == "busy" and worker["current"]["elapsed_s"] > 0
    assert worker["busy_s"] is None  # no utilisation without the worker's figures


def test_busy_time_is_the_time_not_spent_waiting_for_work() -> None:
    now = time.perf_counter_ns()

    class Waiting:
        current = None
        busy_since = 0
        started_ns = now - 10_000_000_000  # 10 s ago
        idle = (4_000_000_000, now - 1_000_000_000)  # 4 s idle, waiting again for 1 s

    metrics = Metrics()
    rec = metrics.worker(0, "w0", Waiting())
    assert rec.busy_ns(now) == 5_000_000_000
    Waiting.idle = (5_000_000_000, 0)  # the wait ended: working again
    assert rec.busy_ns(now + 2_000_000_000) == 7_000_000_000
