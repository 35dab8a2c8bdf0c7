"""Rich rendering for `barq stats`: pure functions of snapshots, no I/O.

:class:`TargetState` keeps what the client needs between polls (the previous
snapshot, the throughput history); :func:`render` turns a list of them into one
Rich renderable: the full single-server view, or a fleet view (one row per
instance) when several targets are watched. Rates are computed client side from
successive snapshots; per-thread and per-route percentiles are those of the last
interval (from the difference of the histograms) when it had requests, otherwise
over the server's lifetime.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from barq.metrics.histogram import counts_from_sparse, percentile_from_counts

__all__ = [
    "TargetState",
    "format_duration",
    "format_uptime",
    "render",
    "sparkline",
]

HISTORY_SECONDS = 60.0
TOP_ROUTES = 10
_SPARK = "▁▂▃▄▅▆▇█"


@dataclass
class TargetState:
    """Client-side state of one watched stats endpoint."""

    label: str
    interval: float = 1.0
    snapshot: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    error: str | None = None
    history: deque[float] = field(default_factory=deque)

    def update(self, snapshot: dict[str, Any] | None, error: str | None = None) -> None:
        """Record a new poll result: a snapshot, or ``None`` plus the error text."""
        if snapshot is None:
            self.error = error or "no answer"
            return
        restarted = self.snapshot is not None and (
            snapshot["process"]["pid"] != self.snapshot["process"]["pid"]
            or snapshot["totals"]["requests"] < self.snapshot["totals"]["requests"]
        )
        self.previous = None if restarted else self.snapshot
        self.snapshot = snapshot
        self.error = None
        if restarted:
            self.history.clear()
        rate = self.request_rate()
        if rate is not None:
            self.history.append(rate)
            keep = max(2, math.ceil(HISTORY_SECONDS / max(self.interval, 0.05)))
            while len(self.history) > keep:
                self.history.popleft()

    @property
    def elapsed(self) -> float | None:
        """Seconds between the last two snapshots (None before the second one)."""
        if self.snapshot is None or self.previous is None:
            return None
        dt = float(self.snapshot["time"]) - float(self.previous["time"])
        return dt if dt > 0 else None

    def request_rate(self) -> float | None:
        """Requests per second over the last interval."""
        dt = self.elapsed
        if dt is None or self.snapshot is None or self.previous is None:
            return None
        delta: int = self.snapshot["totals"]["requests"] - self.previous["totals"]["requests"]
        return max(0, delta) / dt

    def error_rate(self) -> float | None:
        """Fraction of the last interval's requests that failed (lifetime if idle)."""
        if self.snapshot is None:
            return None
        cur = self.snapshot["totals"]
        if self.previous is not None:
            prev = self.previous["totals"]
            requests: int = cur["requests"] - prev["requests"]
            if requests > 0:
                failed: int = cur["errors"] - prev["errors"]
                return max(0, failed) / requests
        total: int = cur["requests"]
        errors: int = cur["errors"]
        return errors / total if total else None


# -- formatting -----------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """``512µs``, ``12.3ms``, ``1.20s``, ``2m05s``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    return format_uptime(seconds)


def format_uptime(seconds: float) -> str:
    """``45s``, ``3m07s``, ``2h05m``, ``3d04h``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """Block-character sparkline of the last ``width`` values (scaled to their max)."""
    values = list(values)[-width:]
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return _SPARK[0] * len(values)
    last = len(_SPARK) - 1
    return "".join(_SPARK[min(last, round(v / top * last))] for v in values)


def _interval_percentiles(
    cur: Mapping[str, Any], prev: Mapping[str, Any] | None
) -> tuple[int | None, ...]:
    """p50/p95/p99 in ns over the interval if it had requests, else lifetime."""
    counts = counts_from_sparse(cur.get("buckets") or [])
    max_ns = round((cur.get("max_s") or 0) * 1e9)
    if prev is not None:
        delta = [
            c - p
            for c, p in zip(counts, counts_from_sparse(prev.get("buckets") or []), strict=True)
        ]
        if all(d >= 0 for d in delta) and any(delta):
            counts = delta
    return tuple(percentile_from_counts(counts, q, max_ns) for q in (0.5, 0.95, 0.99))


def _pcts(cur: Mapping[str, Any], prev: Mapping[str, Any] | None) -> list[str]:
    return [
        format_duration(None if v is None else v / 1e9) for v in _interval_percentiles(cur, prev)
    ]


# -- single server view ---------------------------------------------------------------


def _python_build(snapshot: Mapping[str, Any]) -> str:
    py = snapshot["process"]["python"]
    build = "free-threaded" if py["free_threaded"] else "GIL build"
    return f"{py['implementation']} {py['version']} {build}"


def _gil(snapshot: Mapping[str, Any]) -> Text:
    on = snapshot["process"]["python"]["gil_enabled"]
    free = snapshot["process"]["python"]["free_threaded"]
    if on:
        return Text("GIL on", style="bold red" if free else "yellow")
    return Text("GIL off", style="bold green")


def _header(state: TargetState, snap: Mapping[str, Any]) -> Panel:
    server = snap["server"]
    workers = snap["workers"]
    busy = sum(1 for w in workers if w["state"] == "busy")
    total = server.get("workers") or len(workers)
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column()
    conns = server.get("open_connections")
    idle = server.get("idle_connections")
    conn_text = "-" if conns is None else f"{conns}" + ("" if idle is None else f" ({idle} idle)")
    queued = server.get("queued")
    grid.add_row(
        Text.assemble(("target ", "dim"), (state.label, "bold")),
        Text.assemble(("pid ", "dim"), str(snap["process"]["pid"])),
        Text.assemble(("uptime ", "dim"), format_uptime(snap["process"]["uptime_s"])),
        Text.assemble(_python_build(snap), "  ", _gil(snap)),
    )
    grid.add_row(
        Text.assemble(("threads busy ", "dim"), f"{busy}/{total}"),
        Text.assemble(("connections ", "dim"), conn_text),
        Text.assemble(("queue ", "dim"), "-" if queued is None else str(queued)),
        Text.assemble(
            ("req/s ", "dim"),
            (_rate(state.request_rate()), "bold cyan"),
            ("  errors ", "dim"),
            _percent(state.error_rate()),
        ),
    )
    return Panel(grid, title="[bold]barq stats[/bold]", title_align="left", box=box.ROUNDED)


def _threads_table(state: TargetState, snap: Mapping[str, Any]) -> Table:
    prev_workers = {w["index"]: w for w in (state.previous or {}).get("workers", [])}
    dt = state.elapsed
    table = Table(title="Threads", title_justify="left", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("thread")
    table.add_column("state")
    table.add_column("current", overflow="ellipsis", ratio=2)
    table.add_column("elapsed", justify="right")
    table.add_column("requests", justify="right")
    table.add_column("req/s", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("p99", justify="right")
    table.add_column("errors", justify="right")
    for w in snap["workers"]:
        prev = prev_workers.get(w["index"])
        rate = None
        if prev is not None and dt:
            rate = max(0, w["requests"] - prev["requests"]) / dt
        current = w.get("current")
        if w["state"] == "busy" and current:
            where = f"{current['method']} {current.get('route') or current.get('path') or '?'}"
            elapsed = format_duration(current.get("elapsed_s"))
            state_text = Text("busy", style="bold yellow")
        else:
            where, elapsed, state_text = "", "", Text("idle", style="dim")
        table.add_row(
            w["name"],
            state_text,
            where,
            elapsed,
            f"{w['requests']:,}",
            _rate(rate),
            *_pcts(w["latency"], prev["latency"] if prev else None),
            Text(str(w["errors"]), style="red" if w["errors"] else ""),
        )
    return table


def _routes_table(
    rows: Sequence[Mapping[str, Any]],
    previous: Iterable[Mapping[str, Any]] | None,
    dt: float | None,
) -> Table:
    prev_rows = {(r["method"], r["route"]): r for r in (previous or [])}
    table = Table(title="Top routes", title_justify="left", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("method")
    table.add_column("route", overflow="ellipsis", ratio=2)
    table.add_column("requests", justify="right")
    table.add_column("req/s", justify="right")
    table.add_column("errors", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("p99", justify="right")
    for r in list(rows)[:TOP_ROUTES]:
        prev = prev_rows.get((r["method"], r["route"]))
        rate = None
        if dt:
            rate = max(0, r["count"] - (prev["count"] if prev else 0)) / dt
        table.add_row(
            r["method"],
            r["route"],
            f"{r['count']:,}",
            _rate(rate),
            Text(str(r["errors"]), style="red" if r["errors"] else ""),
            *_pcts(r["latency"], prev["latency"] if prev else None),
        )
    if not rows:
        table.add_row("", Text("no requests yet", style="dim"), "", "", "", "", "", "")
    return table


def _throughput(history: Sequence[float], interval: float) -> Panel:
    if history:
        line = Text.assemble(
            (sparkline(history), "cyan"),
            ("  now ", "dim"),
            _rate(history[-1]),
            ("  max ", "dim"),
            _rate(max(history)),
            (" req/s", "dim"),
        )
    else:
        line = Text("collecting…", style="dim")
    span = format_uptime(min(HISTORY_SECONDS, len(history) * interval))
    return Panel(line, title=f"throughput (last {span})", title_align="left", box=box.ROUNDED)


def _waiting(state: TargetState) -> Panel:
    text = Text.assemble(
        ("waiting for ", "yellow"), (state.label, "bold"), "…", ("  " + (state.error or ""), "dim")
    )
    return Panel(text, title="[bold]barq stats[/bold]", title_align="left")


def render_single(state: TargetState) -> RenderableType:
    """The full view of one server (or a "waiting for …" panel)."""
    snap = state.snapshot
    if snap is None:
        return _waiting(state)
    parts: list[RenderableType] = []
    if state.error:
        parts.append(
            Text.assemble(("waiting for ", "yellow"), state.label, f"… ({state.error}); last data:")
        )
    prev_routes = state.previous["routes"] if state.previous else None
    parts += [
        _header(state, snap),
        _threads_table(state, snap),
        _routes_table(snap["routes"], prev_routes, state.elapsed),
        _throughput(state.history, state.interval),
    ]
    return Group(*parts)


# -- fleet view -------------------------------------------------------------------------


def _merge_routes(snapshots: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for snap in snapshots:
        for r in snap["routes"]:
            key = (r["method"], r["route"])
            agg = merged.setdefault(
                key,
                {
                    "method": r["method"],
                    "route": r["route"],
                    "count": 0,
                    "errors": 0,
                    "buckets": {},
                    "max_s": 0.0,
                },
            )
            agg["count"] += r["count"]
            agg["errors"] += r["errors"]
            agg["max_s"] = max(agg["max_s"], r["latency"].get("max_s") or 0.0)
            for upper, count in r["latency"].get("buckets") or []:
                agg["buckets"][upper] = agg["buckets"].get(upper, 0) + count
    rows = []
    for agg in merged.values():
        buckets = sorted(agg.pop("buckets").items())
        agg["latency"] = {"buckets": [list(p) for p in buckets], "max_s": agg.pop("max_s")}
        rows.append(agg)
    rows.sort(key=lambda row: (-row["count"], row["route"], row["method"]))
    return rows


def render_fleet(states: Sequence[TargetState]) -> RenderableType:
    """One row per instance, fleet totals, merged top routes and throughput."""
    table = Table(title="Fleet", title_justify="left", box=box.SIMPLE_HEAD, expand=True)
    for name, justify in (
        ("target", "left"),
        ("pid", "right"),
        ("uptime", "right"),
        ("python", "left"),
        ("GIL", "left"),
        ("busy", "right"),
        ("conns", "right"),
        ("queue", "right"),
        ("req/s", "right"),
        ("errors", "right"),
        ("p99", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    total_rate = 0.0
    total_busy = total_workers = 0
    live = [s for s in states if s.snapshot is not None and s.error is None]
    for s in states:
        snap = s.snapshot
        if snap is None or s.error:
            table.add_row(s.label, Text(f"waiting for {s.label}… {s.error or ''}", style="yellow"))
            continue
        server = snap["server"]
        busy = sum(1 for w in snap["workers"] if w["state"] == "busy")
        workers = server.get("workers") or len(snap["workers"])
        total_busy += busy
        total_workers += workers
        rate = s.request_rate()
        total_rate += rate or 0.0
        prev_latency = s.previous["totals"]["latency"] if s.previous else None
        table.add_row(
            s.label,
            str(snap["process"]["pid"]),
            format_uptime(snap["process"]["uptime_s"]),
            _python_build(snap),
            _gil(snap),
            f"{busy}/{workers}",
            "-" if server.get("open_connections") is None else str(server["open_connections"]),
            "-" if server.get("queued") is None else str(server["queued"]),
            _rate(rate),
            _percent(s.error_rate()),
            _pcts(snap["totals"]["latency"], prev_latency)[2],
        )
    header = Text.assemble(
        ("instances ", "dim"),
        f"{len(live)}/{len(states)} up",
        ("   threads busy ", "dim"),
        f"{total_busy}/{total_workers}",
        ("   total req/s ", "dim"),
        (_rate(total_rate if live else None), "bold cyan"),
    )
    history = _fleet_history(states)
    interval = states[0].interval if states else 1.0
    snaps = [s.snapshot for s in live if s.snapshot is not None]
    prevs = [s.previous for s in live if s.previous is not None]
    dt = min((s.elapsed for s in live if s.elapsed), default=None)
    rows = _merge_routes(snaps)
    prev_rows = _merge_routes(prevs) if len(prevs) == len(snaps) else None
    return Group(
        Panel(header, title="[bold]barq stats — fleet[/bold]", title_align="left"),
        table,
        _routes_table(rows, prev_rows, dt),
        _throughput(history, interval),
    )


def _fleet_history(states: Sequence[TargetState]) -> list[float]:
    length = max((len(s.history) for s in states), default=0)
    total = [0.0] * length
    for s in states:
        offset = length - len(s.history)
        for i, value in enumerate(s.history):
            total[offset + i] += value
    return total


def render(states: Sequence[TargetState]) -> RenderableType:
    """The dashboard for one target (full view) or several (fleet view)."""
    if len(states) == 1:
        return render_single(states[0])
    return render_fleet(states)
