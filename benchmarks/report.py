"""Presenting results: ratios, the Rich table, the JSON files, the scaling chart."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.contenders import BASELINE
from benchmarks.measure import Run

__all__ = ["apply_ratios", "render_checks", "render_table", "write_chart", "write_json"]


def apply_ratios(runs: Iterable[Run], baseline: str = BASELINE) -> None:
    """Set each run's ``ratio``: its req/s over the baseline's in the same cell."""
    runs = list(runs)
    base: dict[tuple[str, int], float] = {}
    for run in runs:
        if run.contender == baseline and run.rps:
            base[(run.scenario, run.connections)] = run.rps
    for run in runs:
        ref = base.get((run.scenario, run.connections))
        run.ratio = round(run.rps / ref, 2) if ref and run.rps is not None else None


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def render_table(console: Console, runs: Sequence[Run], title: str) -> None:
    """Print ``runs`` as one table, grouped by scenario and connection count."""
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("scenario")
    table.add_column("conns", justify="right")
    table.add_column("contender")
    table.add_column("req/s", justify="right")
    table.add_column(f"× {BASELINE}", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("sock err", justify="right")
    table.add_column("non-2xx", justify="right")
    table.add_column("peak RSS MiB", justify="right")
    previous: tuple[str, int] | None = None
    for run in runs:
        cell = (run.scenario, run.connections)
        if previous is not None and cell != previous:
            table.add_section()
        first = cell != previous
        previous = cell
        name_cols = [run.scenario if first else "", str(run.connections) if first else ""]
        if run.result is None:
            error = (run.error or "not measured").strip().splitlines()[0][:70]
            table.add_row(*name_cols, run.label, f"[red]failed: {error}[/]", *[""] * 6)
            continue
        wrk = run.result
        ratio = "-" if run.ratio is None else f"{run.ratio:.2f}×"
        if run.ratio is not None and run.contender != BASELINE:
            ratio = f"[green]{ratio}[/]" if run.ratio >= 1 else f"[red]{ratio}[/]"
        errors = int(wrk["socket_error_total"])
        non_2xx = int(wrk["non_2xx"])
        table.add_row(
            *name_cols,
            run.label,
            f"{wrk['requests_per_s']:,.0f}",
            ratio,
            _fmt_ms(wrk["p50_ms"]),
            _fmt_ms(wrk["p99_ms"]),
            f"[red]{errors}[/]" if errors else "0",
            f"[red]{non_2xx}[/]" if non_2xx else "0",
            "-" if run.peak_rss_mib is None else f"{run.peak_rss_mib:.0f}",
        )
    console.print(table)


def render_checks(console: Console, checks: Sequence[dict[str, Any]]) -> None:
    """Print the server-issue checks with PASS/FAIL per target."""
    table = Table(title="server-issue checks", header_style="bold")
    table.add_column("check")
    table.add_column("target")
    table.add_column("measured")
    table.add_column("result")
    for check in checks:
        if check["passed"] is None:
            verdict = "[yellow]ERROR[/]"
        else:
            verdict = "[bold green]PASS[/]" if check["passed"] else "[bold red]FAIL[/]"
        table.add_row(check["name"], check["target"], check["measured"], verdict)
    console.print(table)


def write_json(data: dict[str, Any], directory: Path, stamp: str) -> Path:
    """Write ``<stamp>.json`` and ``latest.json`` into ``directory``; return the first."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stamp}.json"
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    path.write_text(text)
    latest = directory / "latest.json"
    tmp = latest.with_suffix(".json.tmp")
    tmp.write_text(text)
    os.replace(tmp, latest)
    return path


SERIES_LABELS = {
    "barq-ft": "Barq, free-threaded (threads)",
    "barq-gil": "Barq, GIL (threads)",
    "uvicorn": "FastAPI + uvicorn (workers)",
}


def write_chart(runs: Sequence[Run], path: Path, *, title: str) -> Path | str:
    """Plot req/s against threads/workers per series; return the path or why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (it comes with the [bench] extra)"
    series: dict[str, list[tuple[int, float]]] = {}
    for run in runs:
        if run.rps is not None:
            series.setdefault(str(run.extra.get("series", run.contender)), []).append(
                (run.parallelism, run.rps)
            )
    if not series:
        return "no successful scaling runs to plot"
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    for name, points in series.items():
        points.sort()
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=SERIES_LABELS.get(name, name))
    ax.set_xscale("log", base=2)
    xticks = sorted({p for pts in series.values() for p, _ in pts})
    ax.set_xticks(xticks, [str(x) for x in xticks])
    ax.set_xlabel("threads (Barq) / worker processes (uvicorn)")
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
