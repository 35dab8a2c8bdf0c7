"""``--help`` that reads well in an 80- (or 60-) column terminal.

Typer's Rich help lays options out in four columns (long names, short and
negative names, type, help); at 80 columns long option names are cut to ``…``
and flags show a ``<bool>`` type. Here each option is one two-column row —
``-p, --port PORT`` on the left, its help (with its default) on the right — and
an option whose names do not fit the left column gets its help on the next
line, as classic CLI help does. Panels (``rich_help_panel``) group options.
Commands use :class:`HelpCommand`, the root group :class:`HelpGroup`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

__all__ = ["HelpCommand", "HelpGroup", "render_help"]

#: The left column never takes more than this share of the width.
_LEFT_SHARE = 0.42


def _names(param: Any) -> str:
    opts = sorted(param.opts, key=lambda o: (not o.startswith("-") or o.startswith("--"), o))
    text = ", ".join(opts)
    if param.secondary_opts:
        text += " / " + ", ".join(param.secondary_opts)
    metavar = param.metavar
    if metavar:
        text += f" {metavar}"
    return text


def _argument_name(param: Any) -> str:
    return str(param.metavar or param.human_readable_name).upper()


def _rows(items: Iterable[tuple[str, str]], width: int) -> RenderableType:
    items = list(items)
    left = max(12, int(width * _LEFT_SHARE))
    left = min(max((len(name) for name, _ in items if len(name) <= left), default=left), left)
    blocks: list[RenderableType] = []
    for name, help_text in items:
        table = Table.grid(padding=(0, 2), expand=False)
        table.add_column(width=left, no_wrap=True)
        table.add_column(ratio=1)
        description = Text.from_markup(help_text) if help_text else Text("")
        if len(name) > left:  # names on their own line, help below
            blocks.append(Text(name, style="bold cyan", overflow="fold"))
            table.add_row("", description)
        else:
            table.add_row(Text(name, style="bold cyan"), description)
        blocks.append(table)
    return Group(*blocks)


def render_help(command: Any, ctx: Any, width: int) -> RenderableType:
    """The help of ``command`` (a Click/Typer command or group) as one renderable."""
    parts: list[RenderableType] = [
        Text.assemble(
            ("Usage: ", "yellow"), (command.get_usage(ctx).removeprefix("Usage: "), "bold")
        ),
    ]
    if command.help:
        parts.append(Text(""))
        parts.append(Text.from_markup(command.help.strip()))
    panels: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            panel = "Arguments"
            name = _argument_name(param)
        else:
            panel = getattr(param, "rich_help_panel", None) or "Options"
            name = _names(param)
        panels.setdefault(panel, []).append((name, getattr(param, "help", None) or ""))
    if hasattr(command, "list_commands"):
        commands = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                summary = sub.short_help or (sub.help or "").strip().split("\n\n")[0]
                commands.append((name, " ".join(summary.split())))
        if commands:
            panels["Commands"] = commands
    order = ["Arguments", "Options", *[p for p in panels if p not in ("Arguments", "Options")]]
    inner = max(20, width - 4)
    for panel in order:
        if panel in panels:
            parts.append(Text(""))
            parts.append(
                Panel(
                    _rows(panels[panel], inner),
                    title=panel,
                    title_align="left",
                    border_style="dim",
                    padding=(0, 1),
                )
            )
    return Group(*parts)


def _print_help(command: Any, ctx: Any) -> None:
    console = Console(highlight=False)
    console.print(render_help(command, ctx, console.width))


class HelpCommand(TyperCommand):
    """A Typer command whose ``--help`` is rendered by :func:`render_help`."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _print_help(self, ctx)


class HelpGroup(TyperGroup):
    """A Typer group whose ``--help`` is rendered by :func:`render_help`."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _print_help(self, ctx)
