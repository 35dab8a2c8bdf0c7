"""A/B: the same Barq benchmark app on two source trees of Barq, alternating.

Used to check that a change keeps performance "within noise": the working tree
(B) against a git ref (A, checked out into a temporary worktree), same
interpreter, same app module, wrk runs alternating A B A B ... in fresh server
processes, so slow drifts of a shared machine hit both sides alike::

    python -m benchmarks.ab --baseline origin/main --python .venv-ft/bin/python
    python -m benchmarks.ab --baseline HEAD~3 --scenario post --rounds 8

Prints each run and the median ratio B/A with a 95 % bootstrap interval.
Needs ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.metrics_overhead import _cpu_seconds
from benchmarks.procs import ServerProcess, free_port
from benchmarks.scenarios import get_scenarios
from benchmarks.wrk import run_wrk

ROOT = Path(__file__).resolve().parent.parent


def _worktree(ref: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="barq-ab-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), ref],
        check=True,
        capture_output=True,
    )
    return target


def _remove_worktree(path: Path) -> None:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
        check=False,
        capture_output=True,
    )
    shutil.rmtree(path, ignore_errors=True)


def _measure(
    tree: Path, python: str, args: argparse.Namespace, label: str
) -> tuple[float, float, float]:
    """(requests/s, p99 ms, server CPU µs per request) of one fresh server process."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{ROOT}")
    argv = [
        python,
        "-m",
        "benchmarks.apps.barq_app",
        "--port",
        str(port),
        "--threads",
        str(args.threads),
    ]
    server = ServerProcess(label, argv, port, env=env, cwd=str(tree))
    server.start()
    scenario = get_scenarios([args.scenario])[0]
    try:
        url = server.base_url + scenario.path
        wrk = shutil.which("wrk") or "wrk"
        options = {"connections": args.connections, "threads": 1}
        run_wrk(wrk, url, scenario, duration=args.warmup, **options)
        cpu_before = _cpu_seconds(server.pid)
        result = run_wrk(wrk, url, scenario, duration=args.duration, **options)
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.stop()
    if result.socket_error_total or result.non_2xx:
        raise SystemExit(f"{label}: {result.socket_errors} socket errors, {result.non_2xx} >= 400")
    return result.requests_per_s, result.p99_ms, cpu / max(result.requests, 1) * 1e6


def _bootstrap(ratios: list[float], n: int = 2000) -> tuple[float, float]:
    rng = random.Random(1)
    medians = sorted(statistics.median(rng.choice(ratios) for _ in ratios) for _ in range(n))
    return medians[int(0.025 * n)], medians[int(0.975 * n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="git ref for side A (default HEAD)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for both sides")
    parser.add_argument("--scenario", default="small-json", help="a benchmarks scenario name")
    parser.add_argument("--threads", type=int, default=2, help="server worker threads")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=6, help="A/B pairs")
    args = parser.parse_args(argv)
    if os.sep in args.python:
        args.python = os.path.abspath(args.python)
    if shutil.which("wrk") is None:
        print("ab: wrk is not installed", file=sys.stderr)
        return 1
    tree_a = _worktree(args.baseline)
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    try:
        for i in range(args.rounds):
            order = [("A", tree_a), ("B", ROOT)]
            if i % 2:
                order.reverse()
            got: dict[str, tuple[float, float, float]] = {}
            for label, tree in order:
                got[label] = _measure(tree, args.python, args, f"barq-{label}")
                time.sleep(0.5)
            (ra, pa, ca), (rb, pb, cb) = got["A"], got["B"]
            ratios.append(rb / ra)
            cpu_ratios.append(cb / ca)
            print(
                f"round {i + 1}: A {ra:,.0f} req/s p99 {pa:.2f} ms {ca:.1f} µs CPU/req | "
                f"B {rb:,.0f} req/s p99 {pb:.2f} ms {cb:.1f} µs CPU/req | "
                f"B/A {rb / ra:.3f} (CPU {cb / ca:.3f})",
                flush=True,
            )
    finally:
        _remove_worktree(tree_a)
    low, high = _bootstrap(ratios)
    clow, chigh = _bootstrap(cpu_ratios)
    print(
        f"requests/s: median B/A {statistics.median(ratios):.3f} (95% interval "
        f"{low:.3f}-{high:.3f}); server CPU per request: median B/A "
        f"{statistics.median(cpu_ratios):.3f} ({clow:.3f}-{chigh:.3f}); "
        f"{len(ratios)} pairs; A = {args.baseline}, B = working tree"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
