"""`barq stats` as a real command against a real server process."""

from __future__ import annotations

import http.client
import json
import os
import shutil
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
stats = start_stats_server(metrics, "127.0.0.1", 0, app_name="demo:app",
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


@pytest.fixture
def live_server(tmp_path) -> Iterator[tuple[int, int, dict[str, str]]]:
    env = env_for(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        app_port, stats_port = map(int, line.split())
        yield app_port, stats_port, env
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
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
    app_port, stats_port, env = live_server
    send(app_port, 3)
    result = barq_stats("--once", env=env)
    assert result.returncode == 0, result.stderr
    assert f"127.0.0.1:{stats_port}" in result.stdout
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
