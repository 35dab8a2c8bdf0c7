"""Helpers shared by the commands: consoles, error exits, app resolution."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from barq_cli.config import ConfigError, ToolConfig, as_str, load_tool_config
from barq_cli.discovery import AppSpec, DiscoveryError, resolve_app

__all__ = ["err_console", "fail", "load_config", "locate_app", "out_console"]


def out_console() -> Console:
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, *hints: str, code: int = 1) -> NoReturn:
    """Print ``Error: message`` (plus hints) on stderr and exit with ``code``."""
    console = err_console()
    console.print(f"[bold red]Error:[/] {escape(message)}")
    for hint in hints:
        console.print(hint)
    raise typer.Exit(code)


def load_config() -> ToolConfig:
    """``[tool.barq]`` of ./pyproject.toml; warns about keys it does not know."""
    try:
        tool = load_tool_config()
    except ConfigError as exc:
        fail(str(exc))
    for key, meant in tool.unknown_keys():
        hint = f" — did you mean [bold]{escape(meant)}[/]?" if meant else ""
        err_console().print(
            f"[yellow]Warning:[/] unknown key [bold]{escape(key)}[/] in \\[tool.barq] of "
            f"{escape(str(tool.path))}{hint} (ignored)"
        )
    return tool


def locate_app(argument: str | None, tool: ToolConfig, *, quiet: bool = False) -> AppSpec:
    """Resolve the application to serve, or exit with what was looked for."""
    try:
        tool_app = tool.get("app", as_str)
        spec = resolve_app(argument, tool_app, tool.root)
    except ConfigError as exc:
        fail(str(exc))
    except DiscoveryError as exc:
        hints = []
        if exc.looked_for:
            hints.append("Looked for:")
            hints += [f"  • {escape(item)}" for item in exc.looked_for]
        hints.append(
            "Pass the application explicitly, e.g. [bold]barq dev app.main:app[/] or "
            '[bold]barq dev path/to/main.py[/], or set [bold]app = "module:app"[/] under '
            "[bold]\\[tool.barq][/] in pyproject.toml."
        )
        fail(str(exc), *hints)
    if not quiet and spec.source != "APP argument":
        where = f" in {spec.file}" if spec.file else ""
        err_console().print(
            f"[dim]Using[/] [bold]{escape(spec.import_string)}[/] "
            f"[dim](from {escape(spec.source)}{escape(where)})[/]"
        )
    return spec
