"""How much throughput does per-thread metrics recording cost?

Starts the Barq contender twice — metrics off and metrics on — and runs the
small-JSON scenario against each in turn, alternating the order every round,
then reports the median requests/s of each, the median per-round loss, and the
server's CPU time per request (from /proc), which decides the verdict: it is
much steadier than requests/s on a shared machine. The target (issue: metrics
hooks) is a loss of at most 5%.

    python -m benchmarks.metrics_overhead [--python .venv-ft/bin/python]
        [--rounds 10] [--duration 3] [--connections 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from benchmarks.procs import ServerProcess, free_port, stop_all
from benchmarks.scenarios import get_scenarios
from benchmarks.wrk import find_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent
TARGET_LOSS = 0.05


def _start(python: str, metrics: bool, threads: int) -> ServerProcess:
    port = free_port()
    env = dict(os.environ, BARQ_BENCH_METRICS="1" if metrics else "0")
    argv = [python, "-m", "benchmarks.apps.barq_app", "--port", str(port),
            "--threads", str(threads)]  # fmt: skip
    server = ServerProcess(f"barq metrics={'on' if metrics else 'off'}", argv, port, cwd=ROOT,
                           env=env)  # fmt: skip
    server.start()
    return server


def _cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads) from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    server: ServerProcess, args: argparse.Namespace, wrk: str
) -> tuple[float, float, float]:
    """(requests/s, p99 ms, server CPU microseconds per request) of one run."""
    scenario = get_scenarios(["small-json"])[0]
    cpu_before = _cpu_seconds(server.pid)
    result = run_wrk(
        wrk,
        server.base_url + scenario.path,
        scenario,
        connections=args.connections,
        duration=args.duration,
        threads=1,
    )
    cpu = _cpu_seconds(server.pid) - cpu_before
    if result.socket_error_total or result.non_2xx:
        raise SystemExit(f"errors during the run: {result.to_dict()}")
    return result.requests_per_s, result.p99_ms, cpu / max(1, result.requests) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".venv-ft" / "bin" / "python"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    samples: dict[bool, list[float]] = {False: [], True: []}
    p99: dict[bool, list[float]] = {False: [], True: []}
    cpu_us: dict[bool, list[float]] = {False: [], True: []}
    # Both servers run for the whole measurement (an idle server costs nothing);
    # short runs alternate between them so drift of the machine hits both alike.
    servers: dict[bool, ServerProcess] = {}
    try:
        for metrics in (False, True):
            servers[metrics] = _start(args.python, metrics, args.threads)
        scenario = get_scenarios(["small-json"])[0]
        for metrics in (False, True):  # warm-up
            url = servers[metrics].base_url + scenario.path
            run_wrk(wrk, url, scenario, connections=args.connections, duration=2, threads=1)
        for round_no in range(args.rounds):
            order = (False, True) if round_no % 2 == 0 else (True, False)
            for metrics in order:
                rps, latency, per_request = _measure(servers[metrics], args, wrk)
                samples[metrics].append(rps)
                p99[metrics].append(latency)
                cpu_us[metrics].append(per_request)
                print(f"round {round_no + 1}: metrics {'on ' if metrics else 'off'} "
                      f"{rps:10.0f} req/s  p99 {latency:6.2f} ms  "
                      f"server CPU {per_request:6.2f} us/request", flush=True)  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
        stop_all()
    off = statistics.median(samples[False])
    on = statistics.median(samples[True])
    # Each round measures both back to back: the median of the per-round losses
    # is robust against the machine's drift between rounds.
    losses = [(a - b) / a for a, b in zip(samples[False], samples[True], strict=True)]
    loss = statistics.median(losses)
    # Server CPU time per request is far steadier than requests/s on a shared
    # machine (neighbours steal throughput, not the work a request needs); at
    # saturation throughput is cores / CPU-per-request, so this is the loss a
    # dedicated machine would see.
    cpu_off = statistics.median(cpu_us[False])
    cpu_on = statistics.median(cpu_us[True])
    cpu_loss = 1 - cpu_off / cpu_on
    verdict = "PASS" if cpu_loss <= TARGET_LOSS else "FAIL"
    print(f"\nmedian metrics off {off:.0f} req/s, on {on:.0f} req/s; median per-round "
          f"throughput loss {loss * 100:.1f}% (noisy)")  # fmt: skip
    print(f"server CPU per request: off {cpu_off:.2f} us, on {cpu_on:.2f} us: throughput "
          f"loss at saturation {cpu_loss * 100:.1f}% (target <= {TARGET_LOSS * 100:.0f}%) "
          f"{verdict}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({
            "off_rps": samples[False], "on_rps": samples[True],
            "off_p99_ms": p99[False], "on_p99_ms": p99[True],
            "median_off": off, "median_on": on, "round_losses": losses, "loss": loss,
            "cpu_us_off": cpu_us[False], "cpu_us_on": cpu_us[True], "cpu_loss": cpu_loss,
            "python": args.python,
        }, indent=2))  # fmt: skip
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
