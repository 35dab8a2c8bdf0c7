"""The event backends side by side: epoll against the portable selectors backend.

One Barq server process per backend (``BARQ_EVENT_BACKEND``), started fresh for
each round, small JSON at 100 and 256 connections, rounds alternating between
the backends (best of the rounds per backend, as ``benchmarks.run`` does).
Reported: requests/s and p99 latency per backend and their ratios. The target
(issue: Reach) is that the selectors backend may be slower but is not unfair:
its p99 at most twice epoll's. PASS/FAIL per connection count.

    python -m benchmarks.backends [--python .venv-ft/bin/python]
        [--backends epoll,poll,select] [--connections 100,256] [--rounds 2]
        [--duration 5] [--warmup 2] [--threads 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from benchmarks.procs import ServerProcess, free_port, stop_all
from benchmarks.scenarios import get_scenarios
from benchmarks.wrk import WrkResult, find_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent
#: The selectors backend's p99 may be at most this many times epoll's.
MAX_P99_RATIO = 2.0


def _measure(
    python: str, backend: str, connections: int, args: argparse.Namespace, wrk: str
) -> WrkResult:
    scenario = get_scenarios(["small-json"])[0]
    port = free_port()
    env = dict(os.environ, BARQ_EVENT_BACKEND=backend)
    argv = [python, "-m", "benchmarks.apps.barq_app", "--port", str(port),
            "--threads", str(args.threads)]  # fmt: skip
    server = ServerProcess(f"barq ({backend})", argv, port, cwd=ROOT, env=env)
    server.start()
    try:
        url = server.base_url + scenario.path
        run_wrk(wrk, url, scenario, connections=connections, duration=args.warmup, threads=1)
        result = run_wrk(
            wrk, url, scenario, connections=connections, duration=args.duration, threads=1
        )
    finally:
        server.stop()
    if result.socket_error_total or result.non_2xx or not result.requests:
        raise SystemExit(f"{backend}: errors during the run: {result.to_dict()}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".venv-ft" / "bin" / "python"))
    parser.add_argument("--backends", default="epoll,poll,select")
    parser.add_argument("--connections", default="100,256")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    counts = [int(c) for c in args.connections.split(",")]
    best: dict[tuple[str, int], WrkResult] = {}
    runs: list[dict[str, object]] = []
    try:
        for connections in counts:
            for round_no in range(args.rounds):
                order = backends if round_no % 2 == 0 else list(reversed(backends))
                for backend in order:
                    result = _measure(args.python, backend, connections, args, wrk)
                    runs.append({"backend": backend, "connections": connections,
                                 "round": round_no, **result.to_dict()})  # fmt: skip
                    print(f"{connections:4d} connections, round {round_no + 1}: {backend:7s} "
                          f"{result.requests_per_s:9.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                          f"p99 {result.p99_ms:6.2f} ms", flush=True)  # fmt: skip
                    key = (backend, connections)
                    if key not in best or result.requests_per_s > best[key].requests_per_s:
                        best[key] = result
    finally:
        stop_all()

    verdict = 0
    print(f"\nsmall JSON, best of {args.rounds} rounds, {args.threads} worker threads, "
          f"{args.python}")  # fmt: skip
    print("| connections | backend | requests/s | vs epoll | p99 | p99 vs epoll |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for connections in counts:
        base = best.get(("epoll", connections))
        for backend in backends:
            r = best[(backend, connections)]
            if base is None or backend == "epoll":
                print(f"| {connections} | {backend} | {r.requests_per_s:,.0f} | | "
                      f"{r.p99_ms:.2f} ms | |")  # fmt: skip
                continue
            p99_ratio = r.p99_ms / base.p99_ms if base.p99_ms else float("inf")
            ok = p99_ratio <= MAX_P99_RATIO
            verdict |= 0 if ok else 1
            print(f"| {connections} | {backend} | {r.requests_per_s:,.0f} | "
                  f"{r.requests_per_s / base.requests_per_s:.2f} | {r.p99_ms:.2f} ms | "
                  f"{p99_ratio:.2f} {'PASS' if ok else 'FAIL'} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "python": args.python}, indent=2))
    return verdict


if __name__ == "__main__":
    sys.exit(main())
