"""The Rich dashboard rendered from real snapshots (console capture)."""

from __future__ import annotations

import time

from rich.console import Console

from barq.http.messages import HTTPRequest
from barq.metrics import Metrics
from barq_cli.dashboard import TargetState, format_duration, format_uptime, render, sparkline


def request(path: str, route: str | None) -> HTTPRequest:
    req = HTTPRequest("GET", path, path, "", "1.1", [])
    req.route = route
    return req


def run(recorder, n: int, route: str | None, ns: int = 2_000_000, status: int = 200) -> None:
    for _ in range(n):
        req = request("/p", route)
        recorder.request_started(req, 0)
        recorder.request_finished(req, status, 0, ns, 10, 10, None)


def text_of(renderable, width: int = 180) -> str:
    console = Console(record=True, width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.export_text()


def two_snapshots() -> TargetState:
    metrics = Metrics()
    w0, w1 = metrics.worker(0, "barq-worker-0"), metrics.worker(1, "barq-worker-1")
    run(w0, 10, "/users/{id}")
    state = TargetState("127.0.0.1:9100", interval=1.0)
    first = metrics.snapshot()
    state.update(first)
    run(w0, 30, "/users/{id}")
    run(w1, 20, "/orders", status=500)
    busy = request("/reports/7", "/reports/{rid}")
    w1.request_started(busy, time.perf_counter_ns() - 3_000_000_000)
    second = metrics.snapshot()
    second["time"] = first["time"] + 2.0  # exactly two seconds later
    state.update(second)
    return state


def test_single_view_shows_header_threads_routes_and_rates() -> None:
    state = two_snapshots()
    out = text_of(render([state]))
    assert "127.0.0.1:9100" in out
    assert "threads busy 1/2" in out
    # 50 requests in 2 s; 20 of them failed.
    assert "req/s 25.0" in out
    assert "errors 40.0%" in out
    lines = out.splitlines()
    w0 = next(line for line in lines if "barq-worker-0" in line)
    assert "idle" in w0 and "40" in w0 and "15.0" in w0 and "2ms" in w0
    w1 = next(line for line in lines if "barq-worker-1" in line)
    assert "busy" in w1 and "GET /reports/{rid}" in w1 and "3.0" in w1 and "10.0" in w1
    users = next(line for line in lines if "/users/{id}" in line)
    assert "40" in users and "15.0" in users
    orders = next(line for line in lines if "/orders" in line)
    assert "20" in orders
    assert "throughput" in out and "25.0" in out
    assert list(state.history) == [25.0]


def test_waiting_panel_when_target_is_down() -> None:
    state = TargetState("127.0.0.1:1")
    state.update(None, "cannot reach 127.0.0.1:1: Connection refused")
    out = text_of(render([state]))
    assert "waiting for 127.0.0.1:1" in out and "Connection refused" in out
    # After having data, a failure keeps the last view with a warning.
    good = two_snapshots()
    good.update(None, "timed out")
    out = text_of(render([good]))
    assert "waiting for" in out and "barq-worker-0" in out


def test_fleet_view_has_a_row_per_instance_and_merges_routes() -> None:
    a = two_snapshots()
    b = two_snapshots()
    b.label = "127.0.0.1:9200"
    down = TargetState("10.0.0.9:9100")
    down.update(None, "cannot reach")
    out = text_of(render([a, b, down]))
    assert "instances 2/3 up" in out
    assert "threads busy 2/4" in out
    assert "total req/s 50.0" in out
    rows = [line for line in out.splitlines() if "127.0.0.1:9" in line]
    assert len(rows) == 2
    assert any("waiting for 10.0.0.9:9100" in line for line in out.splitlines())
    users = next(line for line in out.splitlines() if "/users/{id}" in line)
    assert "80" in users  # 40 per instance, merged


def test_restart_resets_rates_and_history() -> None:
    state = two_snapshots()
    restarted = Metrics().snapshot()
    state.update(restarted)
    assert state.previous is None and state.request_rate() is None
    assert list(state.history) == []


def test_formatting_helpers() -> None:
    assert format_duration(None) == "-"
    assert format_duration(0.000512) == "512µs"
    assert format_duration(0.0123) == "12.3ms"
    assert format_duration(1.5) == "1.50s"
    assert format_uptime(3725) == "1h02m"
    assert format_uptime(42) == "42s"
    assert sparkline([0, 5, 10]) == "▁▅█"
    assert sparkline([]) == ""
    assert len(sparkline(list(range(100)), width=60)) == 60
