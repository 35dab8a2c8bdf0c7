"""Driving wrk: build its Lua script, run it, read its numbers.

wrk prints its human summary (``--latency`` adds the percentile table); the Lua
``done()`` hook we append also prints one machine-readable line, so the numbers
are read exactly (microseconds) rather than parsed back from "1.23ms".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import asdict, dataclass

from benchmarks.scenarios import Scenario

__all__ = ["WrkError", "WrkResult", "find_wrk", "parse_output", "run_wrk", "wrk_script"]

MARKER = "BARQ_BENCH_RESULT "

REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,' ..
    '"write":%.0f,"timeout":%.0f,"status":%.0f,"p50_us":%.0f,"p90_us":%.0f,' ..
    '"p99_us":%.0f,"mean_us":%.1f,"max_us":%.0f}\\n',
    "MARKER", summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.timeout, e.status, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
""".replace("MARKER", MARKER)


class WrkError(RuntimeError):
    """wrk could not be run or printed no result."""


@dataclass
class WrkResult:
    """One wrk measurement."""

    requests: int
    duration_s: float
    requests_per_s: float
    bytes_read: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    socket_errors: dict[str, int]
    non_2xx: int

    @property
    def socket_error_total(self) -> int:
        """connect + read + write + timeout errors."""
        return sum(self.socket_errors.values())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        data = asdict(self)
        data["socket_error_total"] = self.socket_error_total
        return data


def find_wrk() -> str | None:
    """Path of the wrk binary, or None when it is not installed."""
    return shutil.which("wrk")


def wrk_script(scenario: Scenario) -> str:
    """The Lua script for ``scenario``: its request setup plus the reporting hook."""
    return scenario.lua + REPORT_LUA


def parse_output(stdout: str) -> WrkResult:
    """Read the ``done()`` line out of wrk's stdout."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            break
    else:
        raise WrkError(f"wrk printed no result line; its output was:\n{stdout[-2000:]}")
    duration_s = raw["duration_us"] / 1e6
    requests = int(raw["requests"])
    return WrkResult(
        requests=requests,
        duration_s=round(duration_s, 3),
        requests_per_s=round(requests / duration_s, 1) if duration_s > 0 else 0.0,
        bytes_read=int(raw["bytes"]),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=round(raw["mean_us"] / 1000, 3),
        max_ms=raw["max_us"] / 1000,
        socket_errors={k: int(raw[k]) for k in ("connect", "read", "write", "timeout")},
        # wrk counts every status >= 400 here (its "Non-2xx or 3xx responses").
        non_2xx=int(raw["status"]),
    )


def run_wrk(
    wrk: str,
    url: str,
    scenario: Scenario,
    *,
    connections: int,
    duration: float,
    threads: int,
    timeout_s: float = 5.0,
) -> WrkResult:
    """Run wrk against ``url`` and return its numbers.

    wrk runs in its own process group; it is killed if this call is interrupted
    (Ctrl+C) or wrk overstays its duration by a wide margin.
    """
    threads = max(1, min(threads, connections))
    fd, script = tempfile.mkstemp(prefix="barq-bench-", suffix=".lua")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(wrk_script(scenario))
        cmd = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(timeout_s))}s",
            "--latency",
            "-s",
            script,
            url,
        ]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=duration + timeout_s + 30)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
        if proc.returncode != 0:
            raise WrkError(f"wrk exited with status {proc.returncode}:\n{out[-2000:]}")
        return parse_output(out)
    finally:
        os.unlink(script)
