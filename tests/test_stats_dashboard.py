"""The Rich dashboard rendered from real snapshots (console capture)."""

from __future__ import annotations

import io
import re
import time

import pytest
from rich.console import Console
from rich.text import Text

from barq.http.messages import HTTPRequest
from barq.metrics import Metrics
from barq_cli.dashboard import (
    Column,
    TargetState,
    fit_columns,
    format_bytes,
    format_count,
    format_duration,
    format_uptime,
    render,
    sparkline,
)


def request(path: str, route: str | None) -> HTTPRequest:
    req = HTTPRequest("GET", path, path, "", "1.1", [])
    req.route = route
    return req


def run(
    recorder,
    n: int,
    route: str | None,
    ns: int = 2_000_000,
    status: int = 200,
    queued_ns: int = 8_000_000,
) -> None:
    """``n`` requests of ``ns`` service time that waited ``queued_ns`` for a worker."""
    for _ in range(n):
        req = request("/p", route)
        recorder.request_started(req, 0)
        recorder.request_finished(req, status, 0, ns, 10, 10, None, queued_ns)


def text_of(renderable, width: int = 180) -> str:
    console = Console(
        record=True, width=width, color_system=None, force_terminal=False, file=io.StringIO()
    )
    console.print(renderable)
    return console.export_text()


def _as_server(snapshot: dict, busy: list[float], cpu_s: float, uptime_s: float) -> dict:
    """What a real server adds to a recorder-only snapshot: utilisation, CPU,
    memory, the queue wait flag and gauges (the server tests check those)."""
    for worker, busy_s in zip(snapshot["workers"], busy, strict=True):
        worker["busy_s"] = busy_s
    snapshot["process"].update(cpu_s=cpu_s, rss_bytes=50 * 2**20, uptime_s=uptime_s)
    snapshot["server"].update(queue_wait=True, queued=47, open_connections=50, idle_connections=3)
    return snapshot


def two_snapshots(label: str = "127.0.0.1:9100") -> TargetState:
    metrics = Metrics()
    w0, w1 = metrics.worker(0, "barq-worker-0"), metrics.worker(1, "barq-worker-1")
    run(w0, 10, "/users/{id}")
    state = TargetState(label, interval=1.0)
    first = _as_server(metrics.snapshot(), [1.0, 0.5], cpu_s=4.0, uptime_s=10.0)
    state.update(first)
    run(w0, 30, "/users/{id}")
    run(w1, 20, "/orders", status=500)
    busy = request("/reports/7", "/reports/{rid}")
    w1.request_started(busy, time.perf_counter_ns() - 3_000_000_000)
    second = _as_server(metrics.snapshot(), [2.5, 2.5], cpu_s=7.0, uptime_s=12.0)
    second["time"] = first["time"] + 2.0  # exactly two seconds later
    state.update(second)
    return state


def test_single_view_shows_latency_beside_service_time_utilisation_and_process() -> None:
    state = two_snapshots()
    out = text_of(render([state]))
    assert "127.0.0.1:9100" in out
    # 50 requests in 2 s; 20 of them failed.
    assert "req/s 25" in out and "requests 60" in out and "errors 40%" in out
    # Latency counts the 8 ms the requests waited for a worker; service time does not.
    assert "latency p50 10ms p99 10ms" in out and "service p99 2ms" in out
    # Busy 1.5 s and 2.0 s of the last 2 s; 3 s of CPU in 2 s.
    assert "threads 2 busy 88%" in out
    assert "CPU 150%" in out and "RSS 50.0MiB" in out
    assert "queue 47" in out and "connections 50 (3 idle)" in out
    lines = out.splitlines()
    w0 = next(line for line in lines if "barq-worker-0" in line)
    assert re.search(r"barq-worker-0\s+75%\s+15\s+40\s+10ms\s+10ms\s+2ms\s+2ms\s+0\s+idle", w0)
    w1 = next(line for line in lines if "barq-worker-1" in line)
    assert re.search(r"100%\s+10\s+20\s.*\s20\s+3\.00s GET /reports/\{rid\}", w1), w1
    users = next(line for line in lines if "/users/{id}" in line)
    assert re.search(r"/users/\{id\}\s+15\s+40\s+0\s+10ms\s+10ms\s+2ms\s+2ms", users), users
    assert "throughput" in out and "25" in out
    assert list(state.history) == [25.0]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_width_fits_and_no_number_is_cut(width: int) -> None:
    state = two_snapshots()
    a, b = state, two_snapshots("run 127.0.0.1:9200")
    a.label, a.app = "dev 127.0.0.1:8000", "hello.main:app"
    for view in ([state], [a, b]):
        out = text_of(render(view), width)
        assert "…" not in out
        assert max(len(line.rstrip()) for line in out.splitlines()) <= width
        # Whole numbers: counts with their separators, durations with their units.
        assert "req/s 25" in out or "total req/s 50" in out
        for token in re.findall(r"(?<![\w.:/{])\d[\d,.:]*(?:µs|ms|s|%|MiB)?(?![\w])", out):
            assert re.fullmatch(
                r"\d{1,3}(,\d{3})*"  # counts
                r"|\d+(\.\d+)?(µs|ms|s|%|MiB)?"  # durations, shares, sizes, versions
                r"|\d+\.\d+\.\d+"  # a Python version
                r"|\d+\.\d+\.\d+\.\d+:\d{4}"  # addresses with their whole port
                r"|\d\d:\d\d:\d\d",  # clock times
                token,
            ), token
    single = text_of(render([state]), width)
    names = {60: "w1", 80: "worker-1", 120: "barq-worker-1"}
    assert re.search(rf"^{names[width]}\s", single, re.MULTILINE)
    assert "3.00s" in single  # the busy thread's elapsed time is never dropped
    if width >= 80:
        assert "svc p99" in single


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


def test_fleet_view_has_a_row_per_instance_stopped_ones_in_one_line() -> None:
    a = two_snapshots("dev 127.0.0.1:8000")
    a.app = "hello.main:app"
    b = two_snapshots("run 127.0.0.1:9200")
    down = TargetState("app 10.0.0.9:8000")
    down.update(None, "cannot reach")
    gone = two_snapshots("dev 127.0.0.1:8001")
    gone.stopped_at = time.time()
    out = text_of(render([a, b, down, gone]))
    assert "instances 2/3 up" in out and "stopped 1" in out
    assert "threads busy 88%" in out
    assert "total req/s 50" in out
    rows = [line for line in out.splitlines() if re.search(r"^(dev|run) 127\.0\.0\.1:[89]", line)]
    assert len(rows) == 2 and "hello.main:app" in rows[0]
    assert any("waiting for app 10.0.0.9:8000" in line for line in out.splitlines())
    (stopped,) = [line for line in out.splitlines() if "127.0.0.1:8001" in line]
    assert stopped.startswith("stopped ") and "pid " in stopped
    users = next(line for line in out.splitlines() if "/users/{id}" in line)
    assert re.search(r"/users/\{id\}\s+30\s+80\s", users)  # 40 per instance, merged
    # One live instance left: the single view, with the stopped one as a line.
    b.stopped_at = time.time()
    down.stopped_at = time.time()
    out = text_of(render([a, b, down, gone]))
    assert "barq-worker-0" in out and "Instances" not in out
    assert sum(line.startswith("stopped ") for line in out.splitlines()) == 3


def test_restart_resets_rates_and_history() -> None:
    state = two_snapshots()
    restarted = Metrics().snapshot()
    state.update(restarted)
    assert state.previous is None and state.request_rate() is None
    assert list(state.history) == []


def test_once_has_no_throughput_panel() -> None:
    out = text_of(render([two_snapshots()], once=True))
    assert "throughput" not in out and "collecting" not in out


def test_fit_columns_leaves_out_the_most_optional_first() -> None:
    def col(name: str, drop: int, width: int) -> Column:
        return Column(name, [Text("x" * width)], drop=drop)

    cols = [col("a", 0, 10), col("b", 2, 10), col("c", 1, 10), col("d", 0, 10)]
    assert [c.header for c in fit_columns(cols, 100)] == ["a", "b", "c", "d"]
    assert [c.header for c in fit_columns(cols, 36)] == ["a", "c", "d"]  # 3 x 10 + 2 gaps
    assert [c.header for c in fit_columns(cols, 10)] == ["a", "d"]  # never below the kept


def test_formatting_helpers() -> None:
    assert format_duration(None) == "-"
    assert format_duration(0.000512) == "512µs"
    assert format_duration(0.0123) == "12.3ms"
    assert format_duration(0.9996) == "1.00s"
    assert format_duration(1.5) == "1.50s"
    assert format_uptime(3725) == "1h02m"
    assert format_uptime(42) == "42s"
    assert format_count(1234) == "1,234" and format_count(144_123) == "144,123"
    assert format_count(144_123, compact=True) == "144k"
    assert format_count(14_923, compact=True) == "14.9k"
    assert format_count(2_500_000, compact=True) == "2.50M"
    assert format_count(25.0) == "25" and format_count(2.5) == "2.5"
    assert format_bytes(50 * 2**20) == "50.0MiB" and format_bytes(None) == "-"
    assert sparkline([0, 5, 10]) == "▁▅█"
    assert sparkline([]) == ""
    assert len(sparkline(list(range(100)), width=60)) == 60
