"""Smoke tests for the benchmark harness (benchmarks/), against Barq alone.

They run on whichever interpreter runs pytest (GIL or free-threaded) and need no
comparator installed; the ones that drive wrk skip when it is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
CONTENDER = "barq-ft" if FREE_THREADED else "barq-gil"
PYTHON_OPTION = "--ft-python" if FREE_THREADED else "--gil-python"

needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None,
    reason="wrk is not installed (scripts/install-system-packages installs it as root)",
)


def _runner_cmd(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "benchmarks",
        "--contender", CONTENDER, PYTHON_OPTION, sys.executable,
        "--scenario", "small-json", "--connections", "16",
        "--threads", "2", "--wrk-threads", "1", "--no-scaling",
        "--output-dir", str(tmp_path / "results"), "--chart-dir", str(tmp_path / "img"),
        *extra,
    ]  # fmt: skip


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it is gone for our purpose once it is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


def _children_running(parent: int, needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        if ppid == parent and needle in cmdline:
            found.append(int(entry.name))
    return found


@needs_wrk
def test_quickest_run_measures_barq_and_writes_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        _runner_cmd(tmp_path, "--duration", "1", "--warmup", "0"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    latest = json.loads((tmp_path / "results" / "latest.json").read_text())
    stamped = [p for p in (tmp_path / "results").glob("*.json") if p.name != "latest.json"]
    assert len(stamped) == 1
    assert json.loads(stamped[0].read_text()) == latest

    (run,) = latest["runs"]
    assert (run["contender"], run["scenario"], run["connections"]) == (
        CONTENDER,
        "small-json",
        16,
    )
    assert run["error"] is None
    wrk = run["wrk"]
    assert wrk["requests"] > 0 and run["requests_per_s"] > 0
    assert 0 < wrk["p50_ms"] <= wrk["p99_ms"]
    assert wrk["non_2xx"] == 0
    assert run["peak_rss_mib"] > 5  # a Python process tree, sampled from /proc
    assert run["ratio_vs_baseline"] is None  # uvicorn-1 did not run
    assert latest["interrupted"] is False
    assert "small-json" in proc.stdout and "req/s" in proc.stdout  # the Rich table

    (runtime,) = latest["runtimes"].values()
    assert runtime["free_threaded_build"] is FREE_THREADED
    assert _gone(runtime["pid"]), "the runner left its server running"


@needs_wrk
def test_sigterm_mid_run_stops_the_server_and_keeps_partial_results(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        _runner_cmd(tmp_path, "--duration", "30", "--warmup", "0"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        servers: list[int] = []
        while not servers and time.monotonic() < deadline and proc.poll() is None:
            servers = _children_running(proc.pid, "benchmarks.apps.barq_app")
            time.sleep(0.1)
        assert servers, "the runner never started a Barq server"
        time.sleep(1.0)  # let it reach the measurement
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out
    assert "interrupted" in out
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in servers), "server outlived the interrupted runner"
    assert json.loads((tmp_path / "results" / "latest.json").read_text())["interrupted"] is True


def test_every_scenario_is_served_correctly_by_the_barq_app() -> None:
    """Each scenario's request gets the answer the runner checks before measuring."""
    from benchmarks.contenders import REPO_ROOT, Contender
    from benchmarks.measure import validate
    from benchmarks.procs import ServerProcess, free_port
    from benchmarks.scenarios import SCENARIOS

    contender = Contender("barq", "barq", sys.executable, 2, free_threaded=FREE_THREADED)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop("BARQ_BENCH_DB", None)  # the app makes its own temporary database
    server = ServerProcess("barq", contender.argv("127.0.0.1", port), port, cwd=REPO, env=env)
    try:
        server.start(ready_timeout=60)
        for scenario in SCENARIOS:
            validate(server, scenario)
        runtime = server.runtime()
        assert runtime["free_threaded_build"] is FREE_THREADED
        if FREE_THREADED:
            assert runtime["gil_enabled"] is False, "an import re-enabled the GIL"
    finally:
        server.stop()
    assert not server.alive()


def test_wrong_answers_are_caught_before_measuring() -> None:
    from benchmarks.scenarios import get_scenarios

    small, large, paths = get_scenarios(["small-json", "large", "paths"])
    assert small.check(b'{"message": "hello"}') is None
    assert small.check(b'{"message": "bye"}')
    assert small.check(b"not json")
    assert large.check(b"x" * 65536)
    assert paths.check(b'{"route": 7, "item_id": 50}') is None
    with pytest.raises(ValueError, match="unknown scenario"):
        get_scenarios(["nope"])


def test_wrk_result_line_is_parsed_exactly() -> None:
    from benchmarks.wrk import MARKER, WrkError, parse_output

    line = (
        '{"requests":12000,"duration_us":2000000,"bytes":960000,"connect":0,"read":2,'
        '"write":0,"timeout":1,"status":5,"p50_us":1250,"p90_us":2000,"p99_us":4100,'
        '"mean_us":1400.5,"max_us":9000}'
    )
    result = parse_output(f"Running 2s test @ http://x\n{MARKER}{line}\nRequests/sec: 6000\n")
    assert result.requests_per_s == 6000.0
    assert (result.p50_ms, result.p99_ms, result.max_ms) == (1.25, 4.1, 9.0)
    assert result.socket_error_total == 3 and result.non_2xx == 5
    with pytest.raises(WrkError, match="no result line"):
        parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_ratios_scaling_points_and_option_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.measure import Run
    from benchmarks.report import apply_ratios
    from benchmarks.runner import parse_args, scaling_points

    def run(contender: str, rps: float) -> Run:
        r = Run("cpu", 100, contender, contender, 1)
        r.result = {"requests_per_s": rps}
        return r

    runs = [run("barq-ft", 3000.0), run("uvicorn-1", 1000.0), Run("cpu", 16, "barq-ft", "", 1)]
    apply_ratios(runs)
    assert [r.ratio for r in runs] == [3.0, 1.0, None]

    assert scaling_points(16, 32) == [1, 2, 4, 8, 16, 32]
    assert scaling_points(6, 12) == [1, 2, 4, 6, 12]
    assert scaling_points(2, 2) == [1, 2]

    quick = parse_args(["--quick"])
    assert quick.connections == [100] and quick.duration == 2.0 and quick.scaling is False
    assert [s.name for s in quick.scenarios] == ["small-json", "cpu", "post"]
    for bad in (["--contender", "nginx"], ["--scenario", "nope"], ["--duration", "0.5"]):
        with pytest.raises(SystemExit) as exc:
            parse_args(bad)
        assert exc.value.code == 2
    assert "unknown contender" in capsys.readouterr().err


@needs_wrk
def test_metrics_overhead_check_toggles_recording_in_one_server(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.metrics_overhead", "--python", sys.executable,
         "--processes", "1", "--pairs", "1", "--duration", "1", "--connections", "16",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # One pair on a shared machine can land either side of 5 %: PASS (0) or FAIL (1).
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "server CPU per request" in proc.stdout
    result = json.loads(out.read_text())
    assert sorted(run["metrics"] for run in result["runs"]) == [False, True]
    assert all(run["rps"] > 0 and run["cpu_us"] > 0 for run in result["runs"])
    assert len(result["cpu_losses"]) == 1 and result["scenario"] == "small-json"
    # The server ran in its own session under the check; nothing may outlive it.
    assert not _processes_with_env("BARQ_BENCH_METRICS=toggle")


@needs_wrk
def test_backends_benchmark_measures_each_backend_in_its_own_server(tmp_path: Path) -> None:
    out = tmp_path / "backends.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.backends", "--python", sys.executable,
         "--backends", "epoll,poll", "--connections", "16", "--rounds", "1",
         "--duration", "1", "--warmup", "0.5", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # One short round on a shared machine can land either side of the target.
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "| 16 | poll |" in proc.stdout
    runs = json.loads(out.read_text())["runs"]
    assert sorted(run["backend"] for run in runs) == ["epoll", "poll"]
    assert all(run["requests"] > 0 and run["socket_error_total"] == 0 for run in runs)


def _processes_with_env(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if needle.encode() in environ and not _gone(int(entry.name)):
                found.append(int(entry.name))
    return found
