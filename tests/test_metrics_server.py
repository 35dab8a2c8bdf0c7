"""Metrics through a real barq Server: counts, percentiles, the stats endpoint."""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from barq.http.messages import HTTPRequest, HTTPResponse
from barq.metrics import Metrics, RequestEnd, StatsAddressError
from barq.metrics.histogram import MAX_RELATIVE_ERROR
from barq.metrics.registry import list_servers
from barq.server import Server, ServerConfig
from barq.server.connection import ARRIVAL_TIMESTAMPS
from barq.stats import start_stats_server

CLIENTS = 6
PER_CLIENT = 40


def app(request: HTTPRequest) -> HTTPResponse:
    """A tiny router that sets request.route as the framework does."""
    if request.path.startswith("/items/"):
        request.route = "/items/{item_id}"
        return HTTPResponse(200, [("content-type", "text/plain")], b"item")
    if request.path == "/boom":
        request.route = "/boom"
        raise RuntimeError("handler failed")
    return HTTPResponse(404, [("content-type", "text/plain")], b"no")


@pytest.fixture
def served(tmp_path, monkeypatch) -> Iterator[tuple[Metrics, Server, list[RequestEnd]]]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    metrics = Metrics()
    events: list[RequestEnd] = []
    lock = threading.Lock()

    @metrics.on_request_end
    def collect(event: RequestEnd) -> None:
        with lock:
            events.append(event)

    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=4, metrics=metrics))
    server.start()
    try:
        yield metrics, server, events
    finally:
        server.stop()


def fetch(address, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(address[0], address[1], timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def hammer(address, paths: list[str]) -> list[int]:
    statuses: list[int] = []
    errors: list[BaseException] = []

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(address[0], address[1], timeout=10)
        try:
            for i in range(PER_CLIENT):
                conn.request("GET", paths[(n + i) % len(paths)])
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    return statuses


def test_counts_add_up_and_percentiles_match_measured_latencies(served) -> None:
    metrics, server, events = served
    paths = ["/items/1", "/items/2", "/items/3", "/missing/x", "/boom"]
    statuses = hammer(server.addresses[0], paths)
    total = CLIENTS * PER_CLIENT
    assert len(statuses) == total

    # A worker records a request after its response is on the wire, so the
    # client can see the last answer a moment before it is counted: let the
    # counts settle (they must reach the total exactly, and not overshoot).
    deadline = time.monotonic() + 5
    snap = metrics.snapshot()
    while snap["totals"]["requests"] < total and time.monotonic() < deadline:
        time.sleep(0.01)
        snap = metrics.snapshot()
    workers = snap["workers"]
    assert len(workers) == 4
    assert sum(w["requests"] for w in workers) == total
    assert snap["totals"]["requests"] == total
    assert snap["totals"]["status"]["2xx"] == statuses.count(200)
    assert snap["totals"]["status"]["5xx"] == statuses.count(500) > 0
    assert snap["totals"]["errors"] == statuses.count(500)
    assert all(w["state"] == "idle" for w in workers)
    routes = {(r["method"], r["route"]): r for r in snap["routes"]}
    assert set(routes) == {("GET", "/items/{item_id}"), ("GET", "<unmatched>"), ("GET", "/boom")}
    assert routes[("GET", "<unmatched>")]["count"] == statuses.count(404)
    assert routes[("GET", "/boom")]["errors"] == statuses.count(500)
    assert snap["server"]["accepted"] >= CLIENTS
    assert snap["server"]["workers"] == 4
    assert snap["totals"]["bytes_in"] > 0 and snap["totals"]["bytes_out"] > 0

    # The end hook saw every request with the exact duration the histogram recorded
    # (hooks run right after the counters are updated: let the last ones land).
    while len(events) < total and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(events) == total
    assert {e.thread for e in events} == {w["name"] for w in workers if w["requests"]}
    durations = sorted(e.duration_ns for e in events)
    service = snap["totals"]["service"]
    for key, q in (("p50_s", 0.5), ("p95_s", 0.95), ("p99_s", 0.99)):
        exact = durations[math.ceil(q * total) - 1] / 1e9
        assert abs(service[key] - exact) <= exact * MAX_RELATIVE_ERROR, key
    assert service["max_s"] == durations[-1] / 1e9
    # Latency (queue wait included) is kept for the requests whose arrival was
    # stamped: all of them at low rates, about one per millisecond and thread above.
    sample = sorted(e.latency_ns for e in events if e.latency_ns is not None)
    latency = snap["totals"]["latency"]
    assert latency["count"] == len(sample) > 0
    if ARRIVAL_TIMESTAMPS:
        assert all(e.queued_ns is None or e.queued_ns > 0 for e in events)
        assert (
            latency["sum_s"] >= sum(e.duration_ns for e in events if e.latency_ns is not None) / 1e9
        )
    for key, q in (("p50_s", 0.5), ("p99_s", 0.99)):
        exact = sample[math.ceil(q * len(sample)) - 1] / 1e9
        assert abs(latency[key] - exact) <= exact * MAX_RELATIVE_ERROR, key
    assert latency["max_s"] == sample[-1] / 1e9
    per_worker = {w["name"]: w["requests"] for w in workers}
    for name, count in per_worker.items():
        assert count == sum(1 for e in events if e.thread == name)


def test_stats_server_serves_json_and_prometheus_on_its_own_port(served, tmp_path) -> None:
    metrics, server, _ = served
    app_address = server.addresses[0]
    assert fetch(app_address, "/items/9")[0] == 200
    stats = start_stats_server(
        metrics, "127.0.0.1", 0, app_name="test:app", app_addresses=server.addresses
    )
    try:
        assert stats.port != app_address[1]
        assert stats.registry_path is not None and stats.registry_path.exists()
        assert [e["port"] for e in list_servers()] == [stats.port]
        status, body = fetch((stats.host, stats.port), "/stats.json")
        assert status == 200
        data = json.loads(body)
        assert data["totals"]["requests"] == 1
        assert data["server"]["addresses"] == [list(app_address)]
        status, text = fetch((stats.host, stats.port), "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}
        count = next(
            s.value
            for s in families["barq_http_request_duration_seconds"].samples
            if s.name.endswith("_count") and s.labels["route"] == "/items/{item_id}"
        )
        assert count == 1
        assert families["barq_connections_accepted"].samples[0].value >= 1
        # The stats server does not add to the application's metrics...
        assert metrics.snapshot()["totals"]["requests"] == 1
        # ...and the application's port does not serve stats.
        assert fetch(app_address, "/metrics")[0] == 404
    finally:
        stats.stop()
    assert not stats.registry_path.exists()
    assert list_servers() == []
    stats.stop()  # idempotent


def test_stats_server_refuses_non_loopback_unless_allowed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(StatsAddressError, match="non-loopback"):
        start_stats_server(Metrics(), "0.0.0.0", 0)
    stats = start_stats_server(Metrics(), "0.0.0.0", 0, allow_remote=True, register=False)
    try:
        assert stats.registry_path is None
        assert fetch(("127.0.0.1", stats.port), "/healthz") == (200, b"ok\n")
    finally:
        stats.stop()


def test_hooks_added_and_removed_while_serving() -> None:
    """Counts stay exact before, while and after an end hook is registered."""
    metrics = Metrics()
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=3, metrics=metrics))
    server.start()
    try:
        address = server.addresses[0]
        paths = ["/items/1", "/missing/x", "/items/2"]
        total = CLIENTS * PER_CLIENT

        def settled(expected: int) -> dict:
            deadline = time.monotonic() + 5
            snap = metrics.snapshot()
            while snap["totals"]["requests"] < expected and time.monotonic() < deadline:
                time.sleep(0.01)
                snap = metrics.snapshot()
            return snap

        statuses = hammer(address, paths)
        snap = settled(total)
        assert sum(w["requests"] for w in snap["workers"]) == total == snap["totals"]["requests"]
        assert snap["totals"]["status"]["2xx"] == statuses.count(200)
        assert snap["totals"]["service"]["count"] == total

        events: list[RequestEnd] = []
        lock = threading.Lock()

        def collect(event: RequestEnd) -> None:
            with lock:
                events.append(event)

        metrics.on_request_end(collect)
        hammer(address, paths)
        snap = settled(2 * total)
        assert snap["totals"]["requests"] == 2 * total
        deadline = time.monotonic() + 5
        while len(events) < total and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(events) == total

        metrics.remove_hook(collect)
        hammer(address, paths)
        snap = settled(3 * total)
        assert snap["totals"]["requests"] == 3 * total
        assert len(events) == total
    finally:
        server.stop()


@pytest.mark.skipif(not ARRIVAL_TIMESTAMPS, reason="no kernel receive timestamps on this platform")
def test_latency_counts_the_wait_for_a_worker_and_utilisation_agrees() -> None:
    """One worker, a 40 ms handler, five clients at once: the last one waits for
    the other four. Service time stays ~40 ms; latency (from the bytes' arrival)
    shows the queue; the worker is busy the whole time."""

    def slow(request: HTTPRequest) -> HTTPResponse:
        request.route = "/slow"
        time.sleep(0.04)
        return HTTPResponse(200, [("content-type", "text/plain")], b"ok")

    metrics = Metrics()
    server = Server(slow, ServerConfig(host="127.0.0.1", port=0, threads=1, metrics=metrics))
    server.start()
    try:
        address = server.addresses[0]
        fetch(address, "/warm")
        before = metrics.snapshot()
        felt: list[float] = []
        lock = threading.Lock()

        def client() -> None:
            started = time.perf_counter()
            fetch(address, "/slow")
            with lock:
                felt.append(time.perf_counter() - started)

        rounds = 3
        for _ in range(rounds):
            threads = [threading.Thread(target=client) for _ in range(5)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        # A worker records a request just after sending its response: the last
        # client can be back before its record lands, so wait for it (bounded).
        deadline = time.monotonic() + 5
        while True:
            after = metrics.snapshot()
            counts = [r["service"]["count"] for r in after["routes"] if r["route"] == "/slow"]
            if counts == [1 + 5 * rounds] or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    finally:
        server.stop()

    (route,) = [r for r in after["routes"] if r["route"] == "/slow"]
    service, latency = route["service"], route["latency"]
    assert service["count"] == latency["count"] == 1 + 5 * rounds
    assert 0.035 < service["p50_s"] < 0.08
    assert service["max_s"] < 0.12
    # The fifth client of a round waited for four others: ~200 ms in all.
    assert latency["max_s"] > 0.17
    assert latency["max_s"] == pytest.approx(max(felt), rel=0.25)
    assert latency["mean_s"] > 2 * service["mean_s"]
    # Queue wait included, so latency never reads below service time.
    assert latency["sum_s"] >= service["sum_s"]

    # Utilisation: busy for the ~0.6 s of handler time, idle between rounds.
    (w0,) = after["workers"]
    (b0,) = before["workers"]
    busy = w0["busy_s"] - b0["busy_s"]
    assert busy == pytest.approx(0.04 * 5 * rounds, rel=0.3)
    assert busy <= after["process"]["uptime_s"]
    assert after["process"]["cpu_s"] > 0 and after["process"]["rss_bytes"] > 10 * 2**20
