"""`barq stats` as a real command against a real server process."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SERVER = r"""
import sys, time
from barq.http.messages import HTTPResponse
from barq.metrics import Metrics
from barq.stats import start_stats_server
from barq.server import Server, ServerConfig

def app(request):
    request.route = "/hello/{name}" if request.path.startswith("/hello/") else None
    return HTTPResponse(200 if request.route else 404, [("content-type", "text/plain")], b"hi")

metrics = Metrics()
server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=3, metrics=metrics))
server.start()
app_name = sys.argv[1] if len(sys.argv) > 1 else "demo:app"
stats = start_stats_server(metrics, "127.0.0.1", 0, app_name=app_name,
                           app_addresses=server.addresses)
print(server.addresses[0][1], stats.port, flush=True)
try:
    sys.stdin.read()
finally:
    stats.stop()
    server.stop()
"""


def env_for(runtime_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "160"
    return env


def barq_stats(*args: str, env: dict[str, str], timeout: float = 30):
    return subprocess.run(
        [sys.executable, "-m", "barq_cli", "stats", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


class ServerProcess:
    """The SERVER script in a subprocess: ``app_port``, ``stats_port``; ``stop()``."""

    def __init__(self, env: dict[str, str], app_name: str = "demo:app") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, app_name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()
        self.app_port, self.stats_port = map(int, line.split())

    def stop(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def live_server(tmp_path) -> Iterator[tuple[int, int, dict[str, str]]]:
    env = env_for(tmp_path)
    server = ServerProcess(env)
    try:
        yield server.app_port, server.stats_port, env
    finally:
        server.stop()
    assert not list((tmp_path / "barq" / "servers").glob("*.json"))


def send(port: int, n: int, path: str = "/hello/x") -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(n):
            conn.request("GET", path)
            conn.getresponse().read()
    finally:
        conn.close()


def test_once_json_reports_the_requests(live_server) -> None:
    app_port, stats_port, env = live_server
    send(app_port, 7)
    send(app_port, 2, "/nowhere")
    result = barq_stats(f"127.0.0.1:{stats_port}", "--once", "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (target,) = doc["targets"]
    assert target["ok"] and target["error"] is None
    snap = target["snapshot"]
    assert snap["totals"]["requests"] == 9
    assert sum(w["requests"] for w in snap["workers"]) == 9
    assert {r["route"]: r["count"] for r in snap["routes"]} == {
        "/hello/{name}": 7,
        "<unmatched>": 2,
    }


def test_without_target_discovers_registered_servers(live_server) -> None:
    app_port, _, env = live_server
    send(app_port, 3)
    result = barq_stats("--once", env=env)
    assert result.returncode == 0, result.stderr
    # Labelled by its mode and the application's address (not the stats port).
    assert f"app 127.0.0.1:{app_port}" in result.stdout and "app demo:app" in result.stdout
    assert "barq-worker" in result.stdout and "/hello/{name}" in result.stdout
    assert "\x1b[" not in result.stdout  # plain text when not a terminal


def test_plain_snapshots_stream_when_stdout_is_not_a_terminal(live_server) -> None:
    _, stats_port, env = live_server
    proc = subprocess.Popen(
        [sys.executable, "-m", "barq_cli", "stats", f":{stats_port}", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        seen = 0
        deadline = time.monotonic() + 20
        while seen < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen += "Top routes" in line
        assert seen == 2
    finally:
        proc.terminate()
        proc.wait(10)


def test_several_targets_make_a_fleet_view_and_down_ones_are_reported(live_server) -> None:
    _, stats_port, env = live_server
    result = barq_stats(f":{stats_port}", "127.0.0.1:1", "--once", env=env)
    assert result.returncode == 1
    assert "instances 1/2 up" in result.stdout
    assert "waiting for 127.0.0.1:1" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("target", ["nope:port", "http://", "[::1", "1.2.3.4:99999"])
def test_bad_target_is_a_clear_error(tmp_path, target: str) -> None:
    result = barq_stats(target, "--once", env=env_for(tmp_path))
    assert result.returncode == 2
    assert "invalid" in result.stderr and "Traceback" not in result.stderr


def test_no_servers_found_is_explained(tmp_path) -> None:
    result = barq_stats("--once", env=env_for(tmp_path))
    assert result.returncode == 1
    assert "No running Barq server" in result.stderr


def test_unreachable_target_once_fails_without_traceback(tmp_path) -> None:
    result = barq_stats("127.0.0.1:1", "--once", "--json", env=env_for(tmp_path))
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["targets"][0]["ok"] is False and "cannot reach" in doc["targets"][0]["error"]
    assert "Traceback" not in result.stderr


TMUX = shutil.which("tmux")


@pytest.mark.skipif(TMUX is None, reason="tmux not installed")
def test_live_dashboard_updates_in_a_terminal_and_q_quits(live_server, tmp_path) -> None:
    app_port, stats_port, env = live_server
    session = f"barq-stats-{os.getpid()}"
    marker = tmp_path / "exit-status"
    command = (
        f"{sys.executable} -m barq_cli stats 127.0.0.1:{stats_port} --interval 0.3; "
        f"echo $? > {marker}"
    )
    env = {**env, "TERM": "xterm-256color"}
    subprocess.run(
        [TMUX, "new-session", "-d", "-s", session, "-x", "170", "-y", "45", command],
        check=True,
        env=env,
        cwd=ROOT,
    )

    def screen() -> str:
        return subprocess.run(
            [TMUX, "capture-pane", "-p", "-t", session], capture_output=True, text=True
        ).stdout

    def wait_for(predicate, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = screen()
            if predicate(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"dashboard never showed the expected state:\n{text}")

    try:
        wait_for(lambda s: "Threads" in s and "barq-worker-0" in s)
        send(app_port, 25)
        text = wait_for(lambda s: "/hello/{name}" in s and " 25 " in s)
        assert "Top routes" in text and "throughput" in text
        subprocess.run([TMUX, "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.read_text().strip() == "0"
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], capture_output=True)


class Tmux:
    """A detached tmux session running one command at a given size."""

    def __init__(self, command: str, width: int, height: int, env: dict[str, str]) -> None:
        assert TMUX is not None
        self.session = f"barq-stats-{os.getpid()}-{width}-{time.monotonic_ns()}"
        env = {**env, "TERM": "xterm-256color"}
        env.pop("COLUMNS", None)
        subprocess.run(
            [TMUX, "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
             command],
            check=True,
            env=env,
            cwd=ROOT,
        )  # fmt: skip

    def screen(self) -> str:
        return subprocess.run(
            [TMUX, "capture-pane", "-p", "-t", self.session], capture_output=True, text=True
        ).stdout

    def wait_for(self, predicate, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"the dashboard never showed the expected state:\n{text}")

    def close(self) -> None:
        subprocess.run([TMUX, "kill-session", "-t", self.session], capture_output=True)


WHOLE_TOKEN = re.compile(
    r"\d{1,3}(,\d{3})*"  # counts
    r"|\d+(\.\d+)?(k|M|G|t)?"  # compact counts, versions (3.13t)
    r"|\d+(\.\d+)?(µs|ms|s|%|MiB|KiB|GiB)"  # durations, shares, sizes
    r"|\d+\.\d+\.\d+"  # a Python version
    r"|\d+\.\d+\.\d+\.\d+:\d{2,5}"  # an address and its whole port
    r"|\d+m\d\ds|\d+h\d\dm"  # uptimes
    r"|\d\d:\d\d:\d\d"  # clock times
)


def assert_fits(text: str, width: int) -> None:
    """No cell was cut: no ellipsis, nothing wider than the pane, every number whole."""
    assert "…" not in text, text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    for token in re.findall(r"(?<![\w.:/{-])\d[\w,.:]*(?![\w])", text):
        assert WHOLE_TOKEN.fullmatch(token), (token, text)


@pytest.mark.skipif(TMUX is None, reason="tmux not installed")
@pytest.mark.parametrize("width", [60, 80, 120])
def test_dashboard_fits_60_80_and_120_columns(live_server, width: int) -> None:
    app_port, stats_port, env = live_server
    send(app_port, 1234)
    pane = Tmux(
        f"{sys.executable} -m barq_cli stats 127.0.0.1:{stats_port} --interval 0.3", width, 50, env
    )
    try:
        text = pane.wait_for(lambda s: "requests 1,234" in s and "Top routes" in s)
        time.sleep(0.7)  # a few refreshes: rates and percentiles of a real interval
        text = pane.screen()
        assert_fits(text, width)
        assert "requests 1,234" in text and "/hello/{name}" in text
        name = {60: "w0", 80: "worker-0", 120: "barq-worker-0"}[width]
        assert re.search(rf"^\s*{name}\s+\d+(\.\d)?%", text, re.MULTILINE), text
        assert "p99" in text and "busy" in text and "RSS" in text and "CPU" in text
        if width >= 80:
            assert "svc p99" in text
        if width >= 120:
            assert re.search(r"/hello/\{name\}\s+\d+\s+1,234\s", text), text
    finally:
        pane.close()


@pytest.mark.skipif(TMUX is None, reason="tmux not installed")
def test_fleet_view_rereads_the_registry_every_refresh(live_server) -> None:
    _, _, env = live_server
    pane = Tmux(f"{sys.executable} -m barq_cli stats --interval 0.3", 80, 50, env)
    second = None
    try:
        pane.wait_for(lambda s: "barq-worker-0" in s or "worker-0" in s)
        second = ServerProcess(env, "shop:app")
        shop = f"app 127.0.0.1:{second.app_port}"
        text = pane.wait_for(
            lambda s: "Instances" in s and "127.0.0.1:" + str(second.app_port) in s
        )
        assert "instances 2/2 up" in text
        assert_fits(text, 80)
        second.stop()
        text = pane.wait_for(lambda s: re.search(r"^stopped \d\d:\d\d:\d\d", s, re.MULTILINE))
        (line,) = [line for line in text.splitlines() if line.startswith("stopped ")]
        assert shop in line and "shop:app" in line and f"pid {second.proc.pid}" in line
        # One live server left: its full view again, the stopped one as that line.
        assert "Instances" not in text and "worker-0" in text
        assert_fits(text, 80)
    finally:
        pane.close()
        if second is not None:
            second.stop()


def test_once_into_a_pipe_is_wide_and_has_no_collecting_panel(live_server) -> None:
    app_port, stats_port, env = live_server
    send(app_port, 5)
    env = {k: v for k, v in env.items() if k != "COLUMNS"}
    result = barq_stats(f":{stats_port}", "--once", "--interval", "0.2", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "collecting" not in out and "throughput" not in out
    assert "barq-worker-0" in out and "svc p50" in out  # the wide layout
    assert 80 < max(len(line) for line in out.splitlines()) <= 120
    # Two polls 0.2 s apart: the rate is a real figure, not "-".
    assert re.search(r"req/s \d", out), out


WRK = shutil.which("wrk")


@pytest.mark.skipif(WRK is None, reason="wrk not installed")
def test_dashboard_latency_agrees_with_wrk(live_server) -> None:
    """Under wrk -c50 the requests queue for the three workers: the dashboard's
    latency must be the client's (wrk's), not the bare service time."""
    app_port, stats_port, env = live_server
    wrk = subprocess.Popen(
        [WRK, "-t2", "-c50", "-d60s", "--latency", f"http://127.0.0.1:{app_port}/hello/x"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # wrk runs until the dashboard has taken both polls (1 s apart), however
        # slow the stats process is to start on a loaded free-threaded run; on
        # SIGINT it stops and prints its report.
        time.sleep(1.0)
        result = barq_stats(f":{stats_port}", "--once", "--interval", "1", env=env)
    finally:
        wrk.send_signal(signal.SIGINT)
        report, _ = wrk.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    header = result.stdout
    p50 = _seconds(re.search(r"latency p50 (\S+)", header)[1])
    svc99 = _seconds(re.search(r"service p99 (\S+)", header)[1])
    busy = float(re.search(r"busy (\d+(?:\.\d)?)%", header)[1])
    wrk_p50 = _seconds(re.search(r"^\s+50%\s+(\S+)", report, re.MULTILINE)[1])
    # Generous bounds (shared 2-core machines): the same order of magnitude as
    # wrk's; the service time alone was 100x below it.
    assert wrk_p50 / 3 < p50 < wrk_p50 * 3, (p50, wrk_p50, header, report)
    assert svc99 < p50 or p50 < 0.0005, (svc99, p50)
    # Requests were waiting: the workers cannot have been mostly idle.
    assert re.search(r"req/s [1-9]", header), header  # the interval was under load
    assert busy >= 50, header


def _seconds(text: str) -> float:
    for unit, scale in (("µs", 1e-6), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise AssertionError(f"not a duration: {text!r}")
