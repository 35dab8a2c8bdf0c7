"""Render a results file as the Markdown tables used in docs/benchmarks.md.

    python -m benchmarks.markdown benchmarks/results/latest.json

Prints the machine table, the results table (every scenario × connections ×
contender, with ratios against FastAPI + uvicorn 1 worker), the scaling curve
and, for a ``server-issue`` run, the acceptance checks — so the published
figures are generated, never typed in.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def machine_table(data: dict[str, Any]) -> str:
    machine = data.get("machine", {})
    runtimes = data.get("runtimes", {})
    interpreters = sorted(
        {
            f"{info.get('implementation', 'CPython')} {info.get('python', '?')}"
            f" ({'free-threaded' if info.get('free_threaded_build') else 'GIL build'},"
            f" GIL {'on' if info.get('gil_enabled') else 'off'})"
            for info in runtimes.values()
            if isinstance(info, dict)
        }
    )
    rows = [
        ("CPU", f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"),
        ("memory", f"{machine.get('memory_gib', '?')} GiB"),
        ("OS / kernel", str(machine.get("platform", "?"))),
        ("interpreters", "; ".join(interpreters) or "?"),
        ("wrk", str(machine.get("wrk", "?")).split(" Copyright")[0]),
        ("run", f"{data.get('started', '?')}, {data.get('elapsed_s', 0):.0f} s"),
    ]
    lines = ["| | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    return "\n".join(lines)


def results_table(data: dict[str, Any]) -> str:
    lines = [
        "| scenario | conns | contender | req/s | × uvicorn-1 | p50 ms | p99 ms "
        "| sock err | non-2xx | peak RSS MiB |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in data.get("runs", []):
        wrk = run.get("wrk") or {}
        if run.get("error"):
            lines.append(
                f"| {run['scenario']} | {run['connections']} | {run['label']} "
                f"| failed: {run['error'][:60]} | | | | | | |"
            )
            continue
        ratio = run.get("ratio_vs_baseline")
        lines.append(
            f"| {run['scenario']} | {run['connections']} | {run['label']} "
            f"| {run['requests_per_s']:,.0f} | {'' if ratio is None else f'{ratio:.2f}×'} "
            f"| {_ms(wrk.get('p50_ms'))} | {_ms(wrk.get('p99_ms'))} "
            f"| {wrk.get('socket_error_total', 0)} | {wrk.get('non_2xx', 0)} "
            f"| {run.get('peak_rss_mib', 0):.0f} |"
        )
    return "\n".join(lines)


def scaling_table(data: dict[str, Any]) -> str:
    scaling = data.get("scaling") or []
    if not scaling:
        return ""
    series: dict[str, dict[int, float]] = {}
    counts: set[int] = set()
    for run in scaling:
        if run.get("error"):
            continue
        series.setdefault(run["label"].split(" (")[0] + _kind(run), {})[run["parallelism"]] = run[
            "requests_per_s"
        ]
        counts.add(run["parallelism"])
    ordered = sorted(counts)
    lines = [
        "| contender | " + " | ".join(str(n) for n in ordered) + " |",
        "| --- | " + " | ".join("---:" for _ in ordered) + " |",
    ]
    for name, values in series.items():
        cells = " | ".join(f"{values[n]:,.0f}" if n in values else "–" for n in ordered)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def _kind(run: dict[str, Any]) -> str:
    contender = run.get("contender", "")
    if contender.startswith("barq-ft"):
        return " free-threaded (threads)"
    if contender.startswith("barq-gil"):
        return " GIL (threads)"
    if contender.startswith("uvicorn"):
        return " (worker processes)"
    return ""


def checks_table(data: dict[str, Any]) -> str:
    checks = data.get("checks") or []
    if not checks:
        return ""
    lines = ["| check | target | measured | result |", "| --- | --- | --- | --- |"]
    for check in checks:
        result = "PASS" if check.get("passed") else "FAIL"
        lines.append(
            f"| {check.get('name', '?')} | {check.get('target', '')} "
            f"| {check.get('measured', '')} | {result} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "benchmarks/results/latest.json")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    for title, table in (
        ("Machine", machine_table(data)),
        ("Results", results_table(data)),
        ("Scaling (CPU-bound, requests/s)", scaling_table(data)),
        ("Checks", checks_table(data)),
    ):
        if table:
            print(f"### {title}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
