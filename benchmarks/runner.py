"""The benchmark runner: ``python -m benchmarks`` (or ``python benchmarks/run.py``).

It starts each contender on 127.0.0.1 (a free port), waits until it answers, checks
every endpoint answers correctly, warms up, drives wrk, samples the server tree's
RSS, and stops everything it started, also on failure or Ctrl+C. Results go to a
Rich table and to ``benchmarks/results/<timestamp>.json`` (+ ``latest.json``).
Nothing is installed here: ``scripts/bench`` prepares the environments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.contenders import (
    BASELINE,
    CONTENDER_NAMES,
    REPO_ROOT,
    Contender,
    Interpreters,
    build_contenders,
)
from benchmarks.measure import MeasureSettings, Run, ServerPool, measure, temp_database
from benchmarks.procs import stop_all
from benchmarks.report import apply_ratios, render_checks, render_table, write_chart, write_json
from benchmarks.scenarios import SCENARIOS, get_scenarios
from benchmarks.wrk import find_wrk

__all__ = ["main", "parse_args", "scaling_points"]

QUICK_SCENARIOS = ["small-json", "cpu", "post"]
FULL_CONNECTIONS = [16, 100, 256]
QUICK_CONNECTIONS = [100]
SCALING_SERIES = ("barq-ft", "barq-gil", "uvicorn-1")


def _csv(kind: type) -> Any:
    def parse(text: str) -> list[Any]:
        try:
            return [kind(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")

    return parse


def _default_python(*candidates: str | Path | None) -> str:
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate)
        if not path.is_absolute() and os.sep not in str(candidate):
            found = shutil.which(str(candidate))
            if found:
                return found
            continue
        if path.exists():
            return str(path)
    first = next((c for c in candidates if c), "")
    return str(first)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see ``python -m benchmarks --help``)."""
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark Barq against FastAPI+uvicorn and Flask+gunicorn with wrk.",
    )
    p.add_argument(
        "--profile",
        choices=["matrix", "server-issue"],
        default="matrix",
        help="matrix: every scenario × connection count × contender (default); "
        "server-issue: the server's three acceptance checks with PASS/FAIL",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"about a minute: scenarios {','.join(QUICK_SCENARIOS)} at 100 connections, "
        "2 s each, no scaling curve",
    )
    p.add_argument(
        "--contender",
        type=_csv(str),
        action="extend",
        help=f"comma-separated, repeatable; from {','.join(CONTENDER_NAMES)} (default: all)",
    )
    p.add_argument(
        "--scenario",
        type=_csv(str),
        action="extend",
        help=f"comma-separated, repeatable; from {','.join(s.name for s in SCENARIOS)}",
    )
    p.add_argument(
        "--connections",
        type=_csv(int),
        action="extend",
        help="comma-separated connection counts (default 16,100,256; quick: 100)",
    )
    p.add_argument("--duration", type=float, help="seconds per measurement (10; quick: 2)")
    p.add_argument("--warmup", type=float, help="warm-up seconds before each (2; quick: 1)")
    p.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the CPU-bound thread-scaling curve (default: on, off with --quick)",
    )
    p.add_argument(
        "--scaling-connections", type=int, default=100, help="connections for the curve (100)"
    )
    p.add_argument(
        "--max-scale",
        type=int,
        default=2 * cores,
        help=f"largest thread/worker count on the curve (default 2 × cores = {2 * cores})",
    )
    p.add_argument(
        "--threads", type=int, default=cores, help=f"Barq worker threads (default {cores})"
    )
    p.add_argument(
        "--gunicorn-threads", type=int, default=4, help="threads per gunicorn worker (4)"
    )
    p.add_argument(
        "--wrk-threads",
        type=int,
        default=max(1, cores // 4),
        help=f"wrk threads (default cores/4 = {max(1, cores // 4)})",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="wrk per-request timeout, s (5)")
    venv = REPO_ROOT
    p.add_argument(
        "--ft-python",
        default=_default_python(
            os.environ.get("BARQ_BENCH_FT_PYTHON"),
            venv / ".venv-ft/bin/python",
            "python3.14t",
            "python3.13t",
        ),
        help="free-threaded interpreter with Barq installed (default .venv-ft/bin/python)",
    )
    p.add_argument(
        "--gil-python",
        default=_default_python(os.environ.get("BARQ_BENCH_GIL_PYTHON"), venv / ".venv/bin/python"),
        help="GIL interpreter with Barq installed (default .venv/bin/python)",
    )
    p.add_argument(
        "--bench-python",
        default=_default_python(
            os.environ.get("BARQ_BENCH_PYTHON"), venv / ".venv-bench/bin/python"
        ),
        help="interpreter with the comparators (default .venv-bench/bin/python)",
    )
    p.add_argument(
        "--output-dir",
        type=Path,
        default=REPO_ROOT / "benchmarks/results",
        help="where <timestamp>.json and latest.json go (benchmarks/results)",
    )
    p.add_argument(
        "--chart-dir",
        type=Path,
        default=REPO_ROOT / "docs/img",
        help="where the scaling chart goes (docs/img)",
    )
    args = p.parse_args(argv)

    quick = args.quick
    args.scenario = args.scenario or (QUICK_SCENARIOS if quick else None)
    args.connections = args.connections or (QUICK_CONNECTIONS if quick else FULL_CONNECTIONS)
    args.duration = args.duration if args.duration is not None else (2.0 if quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 2.0)
    if args.scaling is None:
        args.scaling = not quick and args.profile == "matrix"
    if args.duration < 1:
        p.error("--duration must be at least 1 second (wrk's resolution)")
    if args.warmup < 0:
        p.error("--warmup cannot be negative")
    if any(c < 1 for c in args.connections):
        p.error("--connections must be positive")
    if args.threads < 1 or args.gunicorn_threads < 1 or args.wrk_threads < 1:
        p.error("thread counts must be positive")
    unknown = [c for c in args.contender or [] if c not in CONTENDER_NAMES]
    if unknown:
        choices = ", ".join(CONTENDER_NAMES)
        p.error(f"unknown contender(s) {', '.join(unknown)}; choose from {choices}")
    try:
        args.scenarios = get_scenarios(args.scenario)
    except ValueError as exc:
        p.error(str(exc))
    return args


def scaling_points(cores: int, maximum: int) -> list[int]:
    """1, 2, 4, … up to ``cores``, then ``cores`` itself and 2 × ``cores``, capped."""
    points = set()
    n = 1
    while n <= cores:
        points.add(n)
        n *= 2
    points.update({cores, 2 * cores})
    return sorted(p for p in points if p <= maximum)


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "runner_python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    wrk = find_wrk()
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout
        info["wrk"] = out.splitlines()[0].strip() if out else "wrk"
    return info


def _raise_nofile_limit() -> None:
    # 256 connections per run, 600 sockets in the fairness check: lift the soft limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _log_run(console: Console, run: Run) -> None:
    head = f"  {run.scenario:<13} c={run.connections:<4} {run.label:<44}"
    if run.result is None:
        first = (run.error or "").strip().splitlines()[:1]
        console.print(f"{head} [red]failed[/]: {first[0] if first else ''}", highlight=False)
        return
    w = run.result
    extra = ""
    if w["socket_error_total"] or w["non_2xx"]:
        extra = f" [red]errors {w['socket_error_total']} non-2xx {w['non_2xx']}[/]"
    console.print(
        f"{head} {w['requests_per_s']:>10,.0f} req/s  p99 {w['p99_ms']:7.2f} ms  "
        f"RSS {run.peak_rss_mib:6.0f} MiB{extra}",
        highlight=False,
    )


def run_matrix(
    console: Console,
    pool: ServerPool,
    contenders: list[Contender],
    args: argparse.Namespace,
    settings: MeasureSettings,
    runs: list[Run],
) -> None:
    """Every scenario × connection count, alternating the contenders' order per cell."""
    cell = 0
    for scenario in args.scenarios:
        console.print(f"[bold]{scenario.name}[/]: {scenario.title}")
        for connections in args.connections:
            k = cell % len(contenders)
            cell += 1
            for contender in contenders[k:] + contenders[:k]:
                run = measure(pool, contender, scenario, connections, settings)
                runs.append(run)
                _log_run(console, run)


def run_scaling(
    console: Console,
    pool: ServerPool,
    contenders: list[Contender],
    args: argparse.Namespace,
    settings: MeasureSettings,
    runs: list[Run],
) -> None:
    """The CPU-bound scenario at 1, 2, 4, … threads/workers for each series."""
    (cpu,) = get_scenarios(["cpu"])
    cores = os.cpu_count() or 1
    series = [c for c in contenders if c.name in SCALING_SERIES]
    if not series:
        return
    console.print(
        f"[bold]scaling[/]: CPU-bound at {args.scaling_connections} connections, "
        f"{', '.join(c.series for c in series)}"
    )
    for i, n in enumerate(scaling_points(cores, args.max_scale)):
        k = i % len(series)
        for base in series[k:] + series[:k]:
            contender = base.with_parallelism(n)
            try:
                run = measure(pool, contender, cpu, args.scaling_connections, settings)
            finally:
                pool.release(contender)
            run.extra["series"] = contender.series
            runs.append(run)
            _log_run(console, run)


def _series_key(run: Run) -> str:
    series = str(run.extra.get("series", run.contender))
    return "uvicorn-1" if series == "uvicorn" else series


def _table_order(runs: list[Run]) -> list[Run]:
    """Runs grouped by scenario and connections, contenders in their canonical order.

    (They were *measured* in rotating order; the JSON keeps that order.)
    """
    scenario_index = {s.name: i for i, s in enumerate(SCENARIOS)}
    contender_index = {name: i for i, name in enumerate(CONTENDER_NAMES)}
    return sorted(
        runs,
        key=lambda r: (
            scenario_index.get(r.scenario, 99),
            r.connections,
            contender_index.get(r.contender, 99),
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; returns the process exit status."""
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    wrk = find_wrk()
    if wrk is None:
        console.print(
            "[red]wrk is not installed.[/] Install it with `apt-get install wrk` "
            "(scripts/install-system-packages does that as root)."
        )
        return 2
    _raise_nofile_limit()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)

    cores = os.cpu_count() or 1
    interpreters = Interpreters(args.ft_python, args.gil_python, args.bench_python)
    every = build_contenders(
        interpreters, cores=cores, barq_threads=args.threads, gunicorn_threads=args.gunicorn_threads
    )
    if args.profile == "server-issue":
        wanted = ["barq-ft", BASELINE]
    else:
        wanted = [n for n in CONTENDER_NAMES if not args.contender or n in args.contender]
    contenders: list[Contender] = []
    skipped: dict[str, str] = {}
    for name in wanted:
        reason = every[name].unavailable_reason()
        if reason:
            skipped[name] = reason
            console.print(f"[yellow]skipping {every[name].label}[/]: {reason}")
        else:
            contenders.append(every[name])
    if not contenders or (args.profile == "server-issue" and skipped):
        console.print("[red]No contender can run[/] (see above); run `make bench` to set up.")
        return 2
    if BASELINE not in [c.name for c in contenders]:
        console.print(f"[yellow]{BASELINE} is not running: no ratios in this run[/]")

    settings = MeasureSettings(
        wrk=wrk,
        duration=args.duration,
        warmup=args.warmup,
        wrk_threads=args.wrk_threads,
        timeout_s=args.timeout,
    )
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    runs: list[Run] = []
    scaling: list[Run] = []
    checks: list[dict[str, Any]] = []
    interrupted = False
    tmp = tempfile.TemporaryDirectory(prefix="barq-bench-")
    pool = ServerPool(temp_database(tmp.name), log=console.print)
    t0 = time.monotonic()
    try:
        if args.profile == "server-issue":
            from benchmarks.server_issue import run_server_issue

            checks, runs = run_server_issue(
                pool, {c.name: c for c in contenders}, settings, console.print
            )
        else:
            run_matrix(console, pool, contenders, args, settings, runs)
            pool.close()
            if args.scaling:
                run_scaling(console, pool, contenders, args, settings, scaling)
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]interrupted: stopping the servers, keeping partial results[/]")
    finally:
        pool.close()
        stop_all()
        tmp.cleanup()

    apply_ratios(runs)
    chart: str | None = None
    if scaling:
        outcome = write_chart(
            scaling,
            args.chart_dir / "scaling-cpu.png",
            title=f"CPU-bound scenario, {args.scaling_connections} connections, {cores} cores",
        )
        chart = str(outcome) if isinstance(outcome, Path) else None
        if chart is None:
            console.print(f"[yellow]no scaling chart[/]: {outcome}")
    data = {
        "format": 1,
        "profile": args.profile,
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - t0, 1),
        "interrupted": interrupted,
        "machine": _machine(),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "scenarios": [s.name for s in args.scenarios],
            "wrk_threads": args.wrk_threads,
            "wrk_timeout_s": args.timeout,
            "barq_threads": args.threads,
            "gunicorn_threads": args.gunicorn_threads,
            "baseline": BASELINE,
            "quick": args.quick,
        },
        "contenders": {
            c.name: {"label": c.label, "python": c.python, "argv": c.argv("HOST", 0)}
            for c in contenders
        },
        "skipped": skipped,
        "runtimes": pool.runtimes,
        "runs": [r.to_dict() for r in runs],
        "scaling": [r.to_dict() for r in scaling],
        "checks": checks,
        "chart": chart,
    }
    if runs:
        render_table(console, _table_order(runs), f"Barq benchmarks ({stamp}, {cores} cores)")
    if scaling:
        render_table(
            console,
            sorted(scaling, key=lambda r: (r.parallelism, SCALING_SERIES.index(_series_key(r)))),
            "CPU-bound scaling (threads / workers)",
        )
    if checks:
        render_checks(console, checks)
    path = write_json(data, args.output_dir, stamp)
    console.print(f"results: {path}" + (f", chart: {chart}" if chart else ""), highlight=False)

    if interrupted:
        return 130
    failed = [r for r in runs + scaling if r.error]
    if failed:
        console.print(f"[red]{len(failed)} measurement(s) failed[/]")
        return 1
    if any(c["passed"] is not True for c in checks):
        return 1
    return 0
