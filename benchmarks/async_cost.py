"""What does ``async def`` cost against the same ``def`` handler?

One Barq server process serves both twins (``/hello`` and ``/hello-async``;
``/db`` and ``/db-async``, scenario ``sqlite``: a dependency, a query parameter and a lookup). wrk
runs them alternately, in pairs in random order, in several fresh processes;
comparing inside one process removes the process-to-process spread (see
``benchmarks.metrics_overhead``). Reported per pair: server CPU time per request
(from /proc) of each side and the async side's extra cost, then the mean with a
95 % confidence interval. At saturation throughput is cores / CPU-per-request, so
the CPU cost is the throughput loss a dedicated machine would see. The target
(issue: FastAPI portability) is an async handler that never awaits real I/O
costing at most 10 % more than the ``def`` one: PASS when the mean is within it.

    python -m benchmarks.async_cost [--python .venv-ft/bin/python]
        [--processes 2] [--pairs 8] [--duration 2] [--connections 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from pathlib import Path

from benchmarks.metrics_overhead import _cpu_seconds, _mean_ci
from benchmarks.procs import ServerProcess, free_port, stop_all
from benchmarks.scenarios import get_scenarios
from benchmarks.wrk import find_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent
TARGET_COST = 0.10
#: (scenario whose checks apply, def path, async path)
TWINS = {
    "small-json": ("/hello", "/hello-async"),
    # the same, the async handler awaiting a coroutine that returns at once
    "small-json-await": ("/hello", "/hello-await"),
    "sqlite": ("/db?item_id={id}", "/db-async?item_id={id}"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".venv-ft" / "bin" / "python"))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=8, help="def/async pairs per process")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scenario", choices=sorted(TWINS), default="small-json")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    scenario = get_scenarios([args.scenario.removesuffix("-await")])[0]
    item_id = scenario.path.rsplit("=", 1)[-1]
    def_path, async_path = TWINS[args.scenario]
    paths = {"def": def_path.format(id=item_id), "async": async_path.format(id=item_id)}
    rng = random.Random(args.seed)
    runs: list[dict[str, object]] = []
    costs: list[float] = []
    try:
        for process_no in range(args.processes):
            port = free_port()
            argv_ = [args.python, "-m", "benchmarks.apps.barq_app", "--port", str(port),
                     "--threads", str(args.threads)]  # fmt: skip
            server = ServerProcess("barq def/async", argv_, port, cwd=ROOT)
            server.start()
            try:
                for kind in ("def", "async"):  # warm-up
                    run_wrk(wrk, server.base_url + paths[kind], scenario,
                            connections=args.connections, duration=1, threads=1)  # fmt: skip
                for pair in range(args.pairs):
                    order = ("def", "async") if rng.random() < 0.5 else ("async", "def")
                    cpu_us: dict[str, float] = {}
                    for kind in order:
                        before = _cpu_seconds(server.pid)
                        result = run_wrk(wrk, server.base_url + paths[kind], scenario,
                                         connections=args.connections,
                                         duration=args.duration, threads=1)  # fmt: skip
                        if result.socket_error_total or result.non_2xx or not result.requests:
                            raise SystemExit(f"errors during the run: {result.to_dict()}")
                        cpu_us[kind] = (_cpu_seconds(server.pid) - before) / result.requests * 1e6
                        runs.append({"process": process_no, "pair": pair, "kind": kind,
                                     "rps": result.requests_per_s, "p99_ms": result.p99_ms,
                                     "cpu_us": cpu_us[kind]})  # fmt: skip
                        print(f"process {process_no + 1} pair {pair + 1:2d}: {kind:5s} "
                              f"{result.requests_per_s:9.0f} req/s  "
                              f"p99 {result.p99_ms:6.2f} ms  "
                              f"server CPU {cpu_us[kind]:6.2f} us/request", flush=True)  # fmt: skip
                    costs.append(cpu_us["async"] / cpu_us["def"] - 1)
            finally:
                server.stop()
    finally:
        stop_all()

    def median(kind: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs if r["kind"] == kind)  # type: ignore[arg-type]

    cost, ci = _mean_ci(costs)
    verdict = "PASS" if cost <= TARGET_COST else "FAIL"
    print(f"\n{len(costs)} def/async pairs in {args.processes} processes ({args.scenario}, "
          f"{args.threads} worker threads, {args.connections} connections, "
          f"{args.python})")  # fmt: skip
    print(f"requests/s (median): def {median('def', 'rps'):.0f}, "
          f"async {median('async', 'rps'):.0f}")  # fmt: skip
    print(f"server CPU per request (median): def {median('def', 'cpu_us'):.2f} us, async "
          f"{median('async', 'cpu_us'):.2f} us; async costs {cost * 100:+.1f}% ± {ci * 100:.1f}% "
          f"(target <= +{TARGET_COST * 100:.0f}%) {verdict}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "costs": costs, "cost": cost,
                                         "cost_ci95": ci, "python": args.python,
                                         "scenario": args.scenario}, indent=2))  # fmt: skip
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
