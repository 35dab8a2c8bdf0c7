"""Rich rendering for `barq stats`: pure functions of snapshots, no I/O.

:class:`TargetState` keeps what the client needs between polls (the previous
snapshot, the throughput history, whether the instance stopped); :func:`render`
turns a list of them into one Rich renderable: the full single-server view, or a
fleet view (one row per instance) when several are live.

The renderable lays itself out for the width Rich gives it at render time (a
resized terminal gets a new layout on the next refresh). Tables keep their
columns by priority — the ones that do not fit are left out, most optional
first — and numbers are never cut: number columns keep their natural width,
only routes and paths fold onto more lines. Below 110 columns thread names are
shortened (``worker-3``, then ``w3``) and below 72 counts are abbreviated
(``14.9k``).

Rates, utilisation and CPU % are computed client side from successive
snapshots; percentiles are those of the last interval (from the difference of
the histograms) when it had requests, otherwise over the server's lifetime.
*Latency* counts from when the request's bytes arrived (the wait for a worker
included: what the client feels, seen from the server); *service* time from
when a worker picked the request up.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from barq.metrics.histogram import counts_from_sparse, percentile_from_counts

__all__ = [
    "Column",
    "TargetState",
    "fit_columns",
    "format_bytes",
    "format_count",
    "format_duration",
    "format_uptime",
    "render",
    "sparkline",
]

HISTORY_SECONDS = 60.0
TOP_ROUTES = 10
STOPPED_SHOWN = 3
WIDE = 110
"""From this width on, full thread names and counts."""
NARROW = 72
"""Below this width, the narrowest layout: ``w3``, ``14.9k``."""
FOLD_MIN = 12
"""Narrowest a folding column (routes, paths) gets before columns are left out."""
_SPARK = "▁▂▃▄▅▆▇█"


@dataclass
class TargetState:
    """Client-side state of one watched stats endpoint.

    ``mode``/``app``/``address`` come from the registry (None for a target
    given on the command line); ``stopped_at`` is set when a discovered
    instance left the registry.
    """

    label: str
    interval: float = 1.0
    snapshot: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    error: str | None = None
    history: deque[float] = field(default_factory=deque)
    mode: str | None = None
    app: str | None = None
    address: str | None = None
    stopped_at: float | None = None

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
    def live(self) -> bool:
        """Answering now (not stopped, last poll succeeded)."""
        return self.stopped_at is None and self.error is None and self.snapshot is not None

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

    def worker_utilisation(self, worker: Mapping[str, Any]) -> float | None:
        """Fraction of the last interval ``worker`` spent working (not waiting for
        a ready connection); over its lifetime before the second snapshot."""
        busy = worker.get("busy_s")
        if busy is None or self.snapshot is None:
            return None
        dt = self.elapsed
        if dt is not None and self.previous is not None:
            before = _by_index(self.previous).get(worker["index"])
            if before is not None and before.get("busy_s") is not None:
                return _clamp((busy - before["busy_s"]) / dt)
        uptime = float(self.snapshot["process"]["uptime_s"])
        return _clamp(busy / uptime) if uptime > 0 else None

    def utilisation(self) -> float | None:
        """Mean utilisation of the worker threads (see :meth:`worker_utilisation`)."""
        if self.snapshot is None:
            return None
        values = [self.worker_utilisation(w) for w in self.snapshot["workers"]]
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    def cpu_percent(self) -> float | None:
        """Process CPU time per wall time, in % of one core (top's convention),
        over the last interval; over the lifetime before the second snapshot."""
        if self.snapshot is None:
            return None
        cpu: float | None = self.snapshot["process"].get("cpu_s")
        if cpu is None:
            return None
        dt = self.elapsed
        if dt is not None and self.previous is not None:
            before: float | None = self.previous["process"].get("cpu_s")
            if before is not None:
                return max(0.0, (cpu - before) / dt * 100)
        uptime = float(self.snapshot["process"]["uptime_s"])
        return cpu / uptime * 100 if uptime > 0 else None


def _by_index(snapshot: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    return {w["index"]: w for w in snapshot.get("workers", [])}


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


# -- formatting -----------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """``512µs``, ``12.3ms``, ``1.20s``, ``2m05s``; ``-`` for None (6 cells at most)."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        text = f"{seconds * 1e3:.3g}"
        return "1.00s" if text == "1e+03" else f"{text}ms"
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


def format_count(value: float, compact: bool = False) -> str:
    """``1,234``; with ``compact`` from 10,000 on ``14.9k``, ``149k``, ``1.49M``."""
    if not compact or value < 10_000:
        return f"{value:,.0f}" if value >= 100 or float(value).is_integer() else f"{value:.1f}"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            scaled = value / scale
            if scaled >= 100:
                return f"{scaled:.0f}{unit}"
            return f"{scaled:.1f}{unit}" if scaled >= 10 else f"{scaled:.2f}{unit}"
    return f"{value:,.0f}"  # pragma: no cover - covered by the first branch


def format_bytes(value: int | None) -> str:
    """``512KiB``, ``25.7MiB``, ``1.20GiB``; ``-`` for None."""
    if value is None:
        return "-"
    if value < 2**20:
        return f"{value / 2**10:.0f}KiB"
    if value < 2**30:
        return f"{value / 2**20:.1f}MiB"
    return f"{value / 2**30:.2f}GiB"


def _rate(value: float | None, compact: bool = False) -> str:
    if value is None:
        return "-"
    return format_count(value, compact)


def _percent(value: float | None) -> str:
    if value is None:
        return "-"
    shown = value * 100
    return f"{shown:.1f}%" if shown < 10 else f"{shown:.0f}%"


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """Block-character sparkline of the last ``width`` values (scaled to their max)."""
    values = list(values)[-width:]
    if not values or width <= 0:
        return ""
    top = max(values)
    if top <= 0:
        return _SPARK[0] * len(values)
    last = len(_SPARK) - 1
    return "".join(_SPARK[min(last, round(v / top * last))] for v in values)


def _interval_percentiles(
    cur: Mapping[str, Any] | None, prev: Mapping[str, Any] | None
) -> tuple[int | None, ...]:
    """p50/p95/p99 in ns over the interval if it had requests, else lifetime."""
    if not cur:
        return (None, None, None)
    counts = counts_from_sparse(cur.get("buckets") or [])
    max_ns = round((cur.get("max_s") or 0) * 1e9)
    if prev:
        delta = [
            c - p
            for c, p in zip(counts, counts_from_sparse(prev.get("buckets") or []), strict=True)
        ]
        if all(d >= 0 for d in delta) and any(delta):
            counts = delta
    return tuple(percentile_from_counts(counts, q, max_ns) for q in (0.5, 0.95, 0.99))


def _pcts(cur: Mapping[str, Any] | None, prev: Mapping[str, Any] | None) -> list[str]:
    """Formatted p50, p95, p99 (see :func:`_interval_percentiles`)."""
    return [
        format_duration(None if v is None else v / 1e9) for v in _interval_percentiles(cur, prev)
    ]


_WORKER_NAME = re.compile(r"worker-(\d+)$")


def _thread_name(name: str, width: int) -> str:
    """``barq-worker-3``; ``worker-3`` below :data:`WIDE`; ``w3`` below :data:`NARROW`."""
    match = _WORKER_NAME.search(name)
    if match is None or width >= WIDE:
        return name
    return f"worker-{match[1]}" if width >= NARROW else f"w{match[1]}"


def _python_build(snapshot: Mapping[str, Any], width: int) -> str:
    py = snapshot["process"]["python"]
    if width < WIDE:
        major_minor = ".".join(str(py["version"]).split(".")[:2])
        return major_minor + ("t" if py["free_threaded"] else "")
    build = "free-threaded" if py["free_threaded"] else "GIL build"
    return f"{py['implementation']} {py['version']} {build}"


def _gil(snapshot: Mapping[str, Any], short: bool = False) -> Text:
    on = snapshot["process"]["python"]["gil_enabled"]
    free = snapshot["process"]["python"]["free_threaded"]
    if on:
        return Text("on" if short else "GIL on", style="bold red" if free else "yellow")
    return Text("off" if short else "GIL off", style="bold green")


# -- layout -----------------------------------------------------------------------


@dataclass
class Column:
    """One table column: its cells, and how it gives way when space is short.

    ``drop``: 0 = always kept; otherwise columns with the highest ``drop`` are
    left out first until the rest fits. ``fold``: free text (routes, paths)
    that folds onto more lines and takes the width that is left; every other
    column keeps its natural width, so its numbers are never cut.
    """

    header: str
    cells: list[Text]
    justify: JustifyMethod = "right"
    drop: int = 0
    fold: bool = False
    min_width: int = 0
    """At least this wide (number columns: the widest value they usually show,
    so that the layout does not jump between refreshes); for a folding column,
    the width below which it would rather break its text at spaces only."""

    def natural(self) -> int:
        """Cells this column needs (a folding column: :data:`FOLD_MIN` or its
        ``min_width``, at most)."""
        widest = max([len(self.header), *(cell.cell_len for cell in self.cells)])
        if self.fold:
            return min(widest, max(FOLD_MIN, self.min_width))
        return max(widest, self.min_width)


def _columns(*specs: tuple[str, str, int, bool, int]) -> dict[str, Column]:
    """Empty columns by name from ``(header, "left"|"right", drop, fold, min_width)``."""
    return {
        header: Column(header, [], "left" if side == "left" else "right", drop, fold, width)
        for header, side, drop, fold, width in specs
    }


_COLUMN_GAP = 3  # one cell of padding on each side and the (blank) box divider


def fit_columns(columns: Sequence[Column], width: int) -> list[Column]:
    """The columns that fit in ``width`` cells, leaving out the most optional first."""
    kept = list(columns)

    def needed(cols: Sequence[Column]) -> int:
        return sum(c.natural() for c in cols) + _COLUMN_GAP * max(0, len(cols) - 1)

    while needed(kept) > width:
        optional = [c for c in kept if c.drop]
        if not optional:
            break
        kept.remove(max(optional, key=lambda c: c.drop))
    return kept


def _table(title: str | None, columns: Sequence[Column], width: int) -> Table:
    """A table of the ``columns`` that fit ``width`` (see :func:`fit_columns`)."""
    kept = fit_columns(columns, width)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        expand=True,
    )
    for col in kept:
        if col.fold:
            table.add_column(
                col.header,
                justify=col.justify,
                overflow="fold",
                ratio=1,
                min_width=FOLD_MIN,
            )
        else:
            table.add_column(
                col.header,
                justify=col.justify,
                no_wrap=True,
                min_width=col.natural(),
            )
    rows = len(kept[0].cells) if kept else 0
    for i in range(rows):
        table.add_row(*(col.cells[i] for col in kept))
    return table


def _pack(segments: Iterable[Text], width: int, gap: int = 3) -> Text:
    """``segments`` on as few lines of ``width`` cells as fit, never split inside one."""
    lines: list[Text] = []
    line = Text()
    for segment in segments:
        if not segment.cell_len:
            continue
        if line.cell_len and line.cell_len + gap + segment.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(" " * gap)
        line.append_text(segment)
    if line.cell_len:
        lines.append(line)
    return Text("\n").join(lines)


def _field(label: str, value: str | Text, style: str = "") -> Text:
    text = Text(label + " ", style="dim") if label else Text()
    if isinstance(value, Text):
        text.append_text(value)
    else:
        text.append(value, style=style)
    return text


# -- single server view ---------------------------------------------------------------


def _identity(state: TargetState, snap: Mapping[str, Any] | None, width: int) -> list[Text]:
    parts = [Text(state.label, style="bold")]
    if state.app:
        parts.append(_field("app", state.app))
    if snap is not None:
        parts += [
            _field("pid", str(snap["process"]["pid"])),
            _field("up", format_uptime(snap["process"]["uptime_s"])),
            Text.assemble(_python_build(snap, width), " ", _gil(snap)),
        ]
    return parts


def _header(state: TargetState, snap: Mapping[str, Any], width: int) -> Panel:
    server = snap["server"]
    compact = width < NARROW
    totals = snap["totals"]
    prev_totals = state.previous["totals"] if state.previous else None
    p50, _, p99 = _pcts(totals.get("latency"), prev_totals.get("latency") if prev_totals else None)
    _, _, svc99 = _pcts(totals.get("service"), prev_totals.get("service") if prev_totals else None)
    conns = server.get("open_connections")
    idle = server.get("idle_connections")
    conn_text = "-" if conns is None else f"{conns}" + ("" if idle is None else f" ({idle} idle)")
    queued = server.get("queued")
    workers = server.get("workers") or len(snap["workers"])
    figures = [
        _field("req/s", _rate(state.request_rate(), compact), "bold cyan"),
        _field("requests", format_count(totals["requests"], compact)),
        _field("errors", _percent(state.error_rate())),
        _field("latency p50", p50) + Text(" ") + _field("p99", p99),
        _field("service p99", svc99),
        _field("threads", str(workers)) + Text(" ") + _field("busy", _percent(state.utilisation())),
        _field("queue", "-" if queued is None else str(queued)),
        _field("connections", conn_text),
        *_websocket_field(server),
        _field("CPU", _percent(None if (c := state.cpu_percent()) is None else c / 100)),
        _field("RSS", format_bytes(snap["process"].get("rss_bytes"))),
    ]
    inner = width - 4  # the panel's border and padding
    body = _pack([*_identity(state, snap, width), *figures], inner)
    return Panel(body, title="[bold]barq stats[/bold]", title_align="left", box=box.ROUNDED)


def _websocket_field(server: Mapping[str, Any]) -> list[Text]:
    """``websockets N`` in the header, once the server has had any."""
    open_now = server.get("websockets_open")
    if not open_now and not server.get("websockets_refused"):
        return []
    refused = server.get("websockets_refused") or 0
    text = f"{open_now or 0}" + (f" ({refused} refused)" if refused else "")
    return [_field("websockets", text)]


def _websockets_table(
    rows: Sequence[Mapping[str, Any]],
    previous: Iterable[Mapping[str, Any]] | None,
    dt: float | None,
    width: int,
) -> Table:
    """WebSocket routes: open sockets and messages per second each way."""
    prev_rows = {r["route"]: r for r in (previous or [])}
    compact = width < NARROW
    cols = _columns(
        ("WebSocket route", "left", 0, True, 0),
        ("open", "right", 0, False, 5),
        ("in/s", "right", 0, False, 6),
        ("out/s", "right", 0, False, 6),
        ("opened", "right", 2, False, 7),
        ("messages", "right", 1, False, 8),
    )
    shown = list(rows)[:TOP_ROUTES]
    for r in shown:
        prev = prev_rows.get(r["route"])
        rates: list[float | None] = [None, None]
        if dt:
            for i, key in enumerate(("messages_in", "messages_out")):
                rates[i] = max(0, r[key] - (prev[key] if prev else 0)) / dt
        cells = {
            "WebSocket route": Text(r["route"]),
            "open": Text(format_count(r["open"], compact)),
            "in/s": Text(_rate(rates[0], compact)),
            "out/s": Text(_rate(rates[1], compact)),
            "opened": Text(format_count(r["opened"], compact)),
            "messages": Text(format_count(r["messages_in"] + r["messages_out"], compact)),
        }
        for name, cell in cells.items():
            cols[name].cells.append(cell)
    return _table(None, list(cols.values()), width)


def _now_cell(worker: Mapping[str, Any]) -> Text:
    current = worker.get("current")
    if worker["state"] != "busy" or not current:
        return Text("idle", style="dim")
    where = f"{current['method']} {current.get('route') or current.get('path') or '?'}"
    return Text.assemble((format_duration(current.get("elapsed_s")), "bold yellow"), " ", where)


def _threads_table(state: TargetState, snap: Mapping[str, Any], width: int) -> Table:
    prev_workers = _by_index(state.previous) if state.previous else {}
    dt = state.elapsed
    compact = width < NARROW
    workers = snap["workers"]
    cols = _columns(
        ("thread", "left", 0, False, 0),
        ("busy", "right", 0, False, 4),
        ("req/s", "right", 0, False, 6),
        ("requests", "right", 5, False, 8),
        ("p50", "right", 3, False, 6),
        ("p99", "right", 0, False, 6),
        ("svc p50", "right", 6, False, 7),
        ("svc p99", "right", 2, False, 7),
        ("errors", "right", 4, False, 6),
        ("now", "left", 0, True, 0),
    )
    for w in workers:
        prev = prev_workers.get(w["index"])
        rate = None
        if prev is not None and dt:
            rate = max(0, w["requests"] - prev["requests"]) / dt
        lat = _pcts(w.get("latency"), prev.get("latency") if prev else None)
        svc = _pcts(w.get("service"), prev.get("service") if prev else None)
        cells = {
            "thread": Text(_thread_name(w["name"], width)),
            "busy": Text(_percent(state.worker_utilisation(w))),
            "req/s": Text(_rate(rate, compact)),
            "requests": Text(format_count(w["requests"], compact)),
            "p50": Text(lat[0]),
            "p99": Text(lat[2]),
            "svc p50": Text(svc[0]),
            "svc p99": Text(svc[2]),
            "errors": Text(format_count(w["errors"], compact), style="red" if w["errors"] else ""),
            "now": _now_cell(w),
        }
        for name, cell in cells.items():
            cols[name].cells.append(cell)
    return _table("Threads", list(cols.values()), width)


def _routes_table(
    rows: Sequence[Mapping[str, Any]],
    previous: Iterable[Mapping[str, Any]] | None,
    dt: float | None,
    width: int,
) -> Table:
    prev_rows = {(r["method"], r["route"]): r for r in (previous or [])}
    compact = width < NARROW
    cols = _columns(
        ("method", "left", 0, False, 6),
        ("route", "left", 0, True, 0),
        ("req/s", "right", 0, False, 6),
        ("requests", "right", 5, False, 8),
        ("errors", "right", 4, False, 6),
        ("p50", "right", 3, False, 6),
        ("p99", "right", 0, False, 6),
        ("svc p50", "right", 6, False, 7),
        ("svc p99", "right", 2, False, 7),
    )
    shown = list(rows)[:TOP_ROUTES]
    for r in shown:
        prev = prev_rows.get((r["method"], r["route"]))
        rate = None
        if dt:
            rate = max(0, r["count"] - (prev["count"] if prev else 0)) / dt
        lat = _pcts(r.get("latency"), prev.get("latency") if prev else None)
        svc = _pcts(r.get("service"), prev.get("service") if prev else None)
        cells = {
            "method": Text(r["method"]),
            "route": Text(r["route"]),
            "req/s": Text(_rate(rate, compact)),
            "requests": Text(format_count(r["count"], compact)),
            "errors": Text(format_count(r["errors"], compact), style="red" if r["errors"] else ""),
            "p50": Text(lat[0]),
            "p99": Text(lat[2]),
            "svc p50": Text(svc[0]),
            "svc p99": Text(svc[2]),
        }
        for name, cell in cells.items():
            cols[name].cells.append(cell)
    if not shown:
        for name, col in cols.items():
            col.cells.append(Text("no requests yet", style="dim") if name == "route" else Text())
    title = "Top routes" if len(rows) <= TOP_ROUTES else f"Top routes ({TOP_ROUTES} of {len(rows)})"
    return _table(title, list(cols.values()), width)


def _legend(snap: Mapping[str, Any] | None, width: int) -> Text:
    if snap is not None and not snap["server"].get("queue_wait", False):
        text = "p50/p99: service time (this platform does not say when requests arrived)"
    elif width < NARROW:
        text = "p50/p99: latency incl. queue wait · svc: service time"
    else:
        text = (
            "p50/p99: latency from the request's arrival (queue wait included) · "
            "svc: service time (from a worker picking it up)"
        )
    return Text(text, style="dim")


def _throughput(history: Sequence[float], interval: float, width: int) -> Panel:
    rate = Text.assemble(
        ("now ", "dim"),
        _rate(history[-1] if history else None),
        ("  max ", "dim"),
        _rate(max(history) if history else None),
        (" req/s", "dim"),
    )
    spark_width = max(0, min(60, width - 4 - rate.cell_len - 2))
    line = Text.assemble((sparkline(history, spark_width), "cyan"), "  ", rate)
    span = format_uptime(min(HISTORY_SECONDS, len(history) * interval))
    return Panel(line, title=f"throughput (last {span})", title_align="left", box=box.ROUNDED)


def _waiting(state: TargetState) -> Panel:
    text = Text.assemble(
        ("waiting for ", "yellow"), (state.label, "bold"), "…", ("  " + (state.error or ""), "dim")
    )
    return Panel(text, title="[bold]barq stats[/bold]", title_align="left")


def _stopped_lines(states: Sequence[TargetState]) -> list[Text]:
    """One line per stopped instance, the latest first (at most :data:`STOPPED_SHOWN`)."""
    stopped = sorted(
        (s for s in states if s.stopped_at is not None),
        key=lambda s: s.stopped_at or 0.0,
        reverse=True,
    )
    lines = []
    for s in stopped[:STOPPED_SHOWN]:
        when = time.strftime("%H:%M:%S", time.localtime(s.stopped_at or 0.0))
        pid = s.snapshot["process"]["pid"] if s.snapshot else None
        lines.append(
            Text.assemble(
                ("stopped ", "dim"),
                (when, "dim"),
                "  ",
                (s.label, "dim bold"),
                ("  " + (s.app or "") if s.app else "", "dim"),
                (f"  pid {pid}" if pid else "", "dim"),
            )
        )
    if len(stopped) > STOPPED_SHOWN:
        lines.append(Text(f"… and {len(stopped) - STOPPED_SHOWN} more stopped", style="dim"))
    return lines


def _single(state: TargetState, width: int, once: bool) -> list[RenderableType]:
    """The full view of one server (or a "waiting for …" panel)."""
    snap = state.snapshot
    if snap is None:
        return [_waiting(state)]
    parts: list[RenderableType] = []
    if state.error:
        parts.append(
            Text.assemble(("waiting for ", "yellow"), state.label, f"… ({state.error}); last data:")
        )
    prev_routes = state.previous["routes"] if state.previous else None
    parts += [
        _header(state, snap, width),
        _threads_table(state, snap, width),
        _routes_table(snap["routes"], prev_routes, state.elapsed, width),
    ]
    if snap.get("websockets"):
        prev_ws = state.previous.get("websockets") if state.previous else None
        parts.append(_websockets_table(snap["websockets"], prev_ws, state.elapsed, width))
    parts += [
        _legend(snap, width),
    ]
    if not once:
        parts.append(_throughput(state.history, state.interval, width))
    return parts


# -- fleet view -------------------------------------------------------------------------


def _merge_routes(snapshots: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for snap in snapshots:
        for r in snap["routes"]:
            key = (r["method"], r["route"])
            agg = merged.setdefault(
                key,
                {"method": r["method"], "route": r["route"], "count": 0, "errors": 0, "hist": {}},
            )
            agg["count"] += r["count"]
            agg["errors"] += r["errors"]
            for kind in ("latency", "service"):
                summary = r.get(kind) or {}
                hist = agg["hist"].setdefault(kind, {"buckets": {}, "max_s": 0.0})
                hist["max_s"] = max(hist["max_s"], summary.get("max_s") or 0.0)
                for upper, count in summary.get("buckets") or []:
                    hist["buckets"][upper] = hist["buckets"].get(upper, 0) + count
    rows = []
    for agg in merged.values():
        for kind, hist in agg.pop("hist").items():
            buckets = sorted(hist["buckets"].items())
            agg[kind] = {"buckets": [list(p) for p in buckets], "max_s": hist["max_s"]}
        rows.append(agg)
    rows.sort(key=lambda row: (-row["count"], row["route"], row["method"]))
    return rows


def _fleet(states: Sequence[TargetState], width: int, once: bool) -> list[RenderableType]:
    """One row per instance, fleet totals, merged top routes and throughput."""
    compact = width < NARROW
    live = [s for s in states if s.live]
    watched = [s for s in states if s.stopped_at is None]
    cols = _columns(
        ("instance", "left", 0, True, 0),
        ("app", "left", 8, False, 0),
        ("pid", "right", 9, False, 0),
        ("up", "right", 7, False, 5),
        ("py", "left", 6, False, 5),
        ("GIL", "left", 5, False, 3),
        ("busy", "right", 0, False, 4),
        ("queue", "right", 3, False, 5),
        ("req/s", "right", 0, False, 6),
        ("errors", "right", 4, False, 6),
        ("p99", "right", 0, False, 6),
        ("CPU", "right", 2, False, 5),
        ("RSS", "right", 3, False, 7),
    )
    total_rate = 0.0
    busy_sum = 0.0
    busy_n = 0
    waiting: list[Text] = []
    # Labels break at their spaces only ("dev" / "127.0.0.1:8000"), never in a port.
    cols["instance"].min_width = max(
        (len(word) for s in watched for word in s.label.split()), default=0
    )
    for s in watched:
        snap = s.snapshot
        if snap is None or s.error:
            waiting.append(
                Text.assemble(
                    ("waiting for ", "yellow"), (s.label, "bold"), "… ", (s.error or "", "dim")
                )
            )
            continue
        server = snap["server"]
        rate = s.request_rate()
        total_rate += rate or 0.0
        util = s.utilisation()
        if util is not None:
            workers = len(snap["workers"])
            busy_sum += util * workers
            busy_n += workers
        prev_latency = s.previous["totals"].get("latency") if s.previous else None
        cpu = s.cpu_percent()
        cells = {
            "instance": Text(s.label, style="bold"),
            "app": Text(s.app or "-"),
            "pid": Text(str(snap["process"]["pid"])),
            "up": Text(format_uptime(snap["process"]["uptime_s"])),
            "py": Text(_python_build(snap, 0)),
            "GIL": _gil(snap, short=True),
            "busy": Text(_percent(util)),
            "queue": Text("-" if server.get("queued") is None else str(server["queued"])),
            "req/s": Text(_rate(rate, compact)),
            "errors": Text(_percent(s.error_rate())),
            "p99": Text(_pcts(snap["totals"].get("latency"), prev_latency)[2]),
            "CPU": Text(_percent(None if cpu is None else cpu / 100)),
            "RSS": Text(format_bytes(snap["process"].get("rss_bytes"))),
        }
        for name, cell in cells.items():
            cols[name].cells.append(cell)
    stopped = [s for s in states if s.stopped_at is not None]
    header = _pack(
        [
            _field("instances", f"{len(live)}/{len(watched)} up"),
            _field("stopped", str(len(stopped))) if stopped else Text(),
            _field("threads busy", _percent(busy_sum / busy_n if busy_n else None)),
            _field("total req/s", _rate(total_rate if live else None, compact), "bold cyan"),
        ],
        width - 4,
    )
    parts: list[RenderableType] = [
        Panel(header, title="[bold]barq stats — fleet[/bold]", title_align="left"),
    ]
    if live:
        parts.append(_table("Instances", list(cols.values()), width))
    parts += waiting
    parts += _stopped_lines(states)
    snaps = [s.snapshot for s in live if s.snapshot is not None]
    prevs = [s.previous for s in live if s.previous is not None]
    dt = min((s.elapsed for s in live if s.elapsed), default=None)
    rows = _merge_routes(snaps)
    prev_rows = _merge_routes(prevs) if len(prevs) == len(snaps) else None
    parts.append(_routes_table(rows, prev_rows, dt, width))
    parts.append(_legend(snaps[0] if snaps else None, width))
    if not once:
        interval = states[0].interval if states else 1.0
        parts.append(_throughput(_fleet_history(live), interval, width))
    return parts


def _fleet_history(states: Sequence[TargetState]) -> list[float]:
    length = max((len(s.history) for s in states), default=0)
    total = [0.0] * length
    for s in states:
        offset = length - len(s.history)
        for i, value in enumerate(s.history):
            total[offset + i] += value
    return total


class Dashboard:
    """The dashboard of ``states``, laid out for the width it is rendered at."""

    def __init__(self, states: Sequence[TargetState], once: bool = False) -> None:
        self.states = list(states)
        self.once = once

    def parts(self, width: int) -> list[RenderableType]:
        """The renderables for ``width`` cells."""
        watched = [s for s in self.states if s.stopped_at is None]
        if len(watched) == 1:
            return [*_single(watched[0], width, self.once), *_stopped_lines(self.states)]
        if not watched:
            lines: list[RenderableType] = [
                Panel(
                    Text("waiting for a Barq server to start…", style="yellow"),
                    title="[bold]barq stats[/bold]",
                    title_align="left",
                )
            ]
            return lines + list(_stopped_lines(self.states))
        return _fleet(self.states, width, self.once)

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        yield Group(*self.parts(options.max_width))


def render(states: Sequence[TargetState], once: bool = False) -> Dashboard:
    """The dashboard for one target (full view) or several (fleet view).

    ``once``: a single printout (no throughput history to show).
    """
    return Dashboard(states, once)
