"""How much throughput does per-thread metrics recording cost?

Runs the small-JSON scenario against the Barq contender twice per round —
metrics off, then on (the order alternates between rounds) — and reports the
median requests/s of each and the relative loss. The target (issue: metrics
hooks) is a loss of at most 5%.

    python -m benchmarks.metrics_overhead [--python .venv-ft/bin/python]
        [--rounds 5] [--duration 5] [--connections 100] [--threads 2]
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


def _measure(python: str, metrics: bool, args: argparse.Namespace, wrk: str) -> tuple[float, float]:
    port = free_port()
    env = dict(os.environ, BARQ_BENCH_METRICS="1" if metrics else "0")
    argv = [python, "-m", "benchmarks.apps.barq_app", "--port", str(port),
            "--threads", str(args.threads)]  # fmt: skip
    server = ServerProcess(f"barq metrics={'on' if metrics else 'off'}", argv, port, cwd=ROOT,
                           env=env)  # fmt: skip
    scenario = get_scenarios(["small-json"])[0]
    server.start()
    try:
        url = server.base_url + scenario.path
        run_wrk(wrk, url, scenario, connections=args.connections, duration=1, threads=1)
        result = run_wrk(
            wrk, url, scenario, connections=args.connections, duration=args.duration, threads=1
        )
    finally:
        server.stop()
    if result.socket_error_total or result.non_2xx:
        raise SystemExit(f"errors during the run: {result.to_dict()}")
    return result.requests_per_s, result.p99_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".venv-ft" / "bin" / "python"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
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
    try:
        for round_no in range(args.rounds):
            order = (False, True) if round_no % 2 == 0 else (True, False)
            for metrics in order:
                rps, latency = _measure(args.python, metrics, args, wrk)
                samples[metrics].append(rps)
                p99[metrics].append(latency)
                print(f"round {round_no + 1}: metrics {'on ' if metrics else 'off'} "
                      f"{rps:10.0f} req/s  p99 {latency:6.2f} ms", flush=True)  # fmt: skip
    finally:
        stop_all()
    off = statistics.median(samples[False])
    on = statistics.median(samples[True])
    loss = (off - on) / off
    verdict = "PASS" if loss <= TARGET_LOSS else "FAIL"
    print(f"\nmedian metrics off {off:.0f} req/s, on {on:.0f} req/s: "
          f"loss {loss * 100:.1f}% (target <= {TARGET_LOSS * 100:.0f}%) {verdict}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({
            "off_rps": samples[False], "on_rps": samples[True],
            "off_p99_ms": p99[False], "on_p99_ms": p99[True],
            "median_off": off, "median_on": on, "loss": loss, "python": args.python,
        }, indent=2))  # fmt: skip
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
