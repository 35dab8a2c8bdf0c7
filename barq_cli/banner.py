"""The short Rich banners ``barq dev`` and ``barq run`` print at startup."""

from __future__ import annotations

import platform
from collections.abc import Sequence

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from barq_cli.discovery import AppSpec

__all__ = ["dev_banner", "interpreter_line"]


def interpreter_line(free_threaded: bool, gil: bool, advice: str | None = None) -> str:
    """``CPython 3.13.5 · free-threaded · GIL off`` with the GIL state coloured (and,
    when a free-threaded build runs with its GIL on, why and what to do)."""
    build = "free-threaded" if free_threaded else "GIL build"
    if free_threaded and gil:
        reason = escape(advice) if advice else "an extension re-enabled it"
        state = f"[bold red]GIL ON[/]: {reason}"
    elif gil:
        state = "GIL on"
    else:
        state = "[green]GIL off[/]"
    return f"{platform.python_implementation()} {platform.python_version()} · {build} · {state}"


def dev_banner(
    *,
    url: str,
    spec: AppSpec,
    free_threaded: bool,
    gil: bool,
    threads: int | None,
    stats_url: str | None,
    watching: Sequence[str],
    includes: Sequence[str],
    load_ms: float | None = None,
    loaded: bool = True,
    docs_path: str | None = None,
    gil_advice: str | None = None,
) -> Panel:
    """The ``barq dev`` startup banner (``loaded``: whether the app's code loaded)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Serving", f"[bold cyan]{escape(url)}[/]")
    source = f" [dim](from {escape(spec.source)})[/]" if spec.source != "APP argument" else ""
    table.add_row("App", f"{escape(spec.import_string)}{source}")
    if docs_path and loaded:
        table.add_row("Docs", f"[cyan]{escape(url.rstrip('/') + docs_path)}[/]")
    table.add_row("Python", interpreter_line(free_threaded, gil, gil_advice))
    table.add_row("Threads", str(threads) if threads else "default")
    if stats_url:
        table.add_row("Stats", f"{escape(stats_url)}  [dim]→ run[/] [bold]barq stats[/]")
    table.add_row("Watching", f"{escape(', '.join(watching))} [dim]({', '.join(includes)})[/]")
    footer = "Debug mode on · reloads on save · Ctrl+C to stop"
    if not loaded:
        footer = (
            "The app failed to load: serving the error page until the next save · Ctrl+C to stop"
        )
    elif load_ms is not None:
        footer = f"Loaded in {load_ms:.0f} ms · " + footer
    return Panel(
        Group(table, Text(footer, style="dim")),
        title="[bold]barq dev[/]",
        title_align="left",
        expand=False,
    )
