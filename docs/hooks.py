"""MkDocs hook: generate the CLI reference from the Typer application at build time.

A page containing the marker ``<!-- barq-cli-reference -->`` gets it replaced by
Markdown built from ``typer.main.get_command(barq_cli.main.app)``: every command's
usage, description, arguments and options, with the same help records that
``barq COMMAND --help`` prints. Nothing is written twice, so the reference
cannot drift from the CLI.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MARKER", "cli_reference_markdown", "on_page_markdown"]

MARKER = "<!-- barq-cli-reference -->"

_MARKUP = re.compile(r"\[/?(?:bold|italic|dim|red|green|yellow|cyan|b|i|u)?\]")


def _plain(text: str | None) -> str:
    """Help text without Rich markup (``[bold]q[/bold]``, ``\\[tool.barq]``)."""
    if not text:
        return ""
    text = _MARKUP.sub("", text).replace("\\[", "[")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")


def _cell(text: str) -> str:
    """One Markdown table cell: a single line, pipes escaped."""
    return " ".join(_plain(text).split()).replace("|", "\\|")


def _context(command: Any, name: str, parent: Any = None) -> Any:
    return command.context_class(command, info_name=name, parent=parent)


def _usage(command: Any, ctx: Any, name: str) -> str:
    pieces = []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            continue
        metavar = param.metavar or param.name.upper()
        if param.multiple or (param.nargs is not None and param.nargs < 0):
            metavar += " ..."
        if not param.required and not metavar.startswith("["):
            metavar = f"[{metavar}]"
        pieces.append(metavar)
    subcommands = getattr(command, "commands", None)
    tail = " COMMAND [ARGS]..." if subcommands else ""
    return " ".join([name, "[OPTIONS]", *pieces]) + tail


def _param_rows(command: Any, ctx: Any) -> tuple[list[str], dict[str, list[str]]]:
    arguments: list[str] = []
    panels: dict[str, list[str]] = {}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        if param.param_type_name == "argument":
            label = param.metavar or param.name.upper()
            arguments.append(f"| `{label}` | {_cell(help_text)} |")
            continue
        flags = [*param.opts, *getattr(param, "secondary_opts", [])]
        shown = ", ".join(f"`{flag}`" for flag in flags)
        if not getattr(param, "is_flag", False):
            end = max((names.rfind(flag) + len(flag) for flag in flags if flag in names), default=0)
            kind = names[end:].strip()
            if kind:
                shown += f" `{' '.join(kind.split())}`"
        panel = getattr(param, "rich_help_panel", None) or "Options"
        panels.setdefault(panel, []).append(f"| {shown} | {_cell(help_text)} |")
    return arguments, panels


def _command_section(command: Any, ctx: Any, name: str, level: int) -> list[str]:
    lines = [f"{'#' * level} `{name}`", ""]
    help_text = _plain(command.help).strip()
    if help_text:
        lines += [help_text, ""]
    lines += ["```text", _usage(command, ctx, name), "```", ""]
    arguments, panels = _param_rows(command, ctx)
    if arguments:
        lines += ["| Argument | Description |", "| --- | --- |", *arguments, ""]
    for panel, rows in panels.items():
        lines += [f"**{panel}**", "", "| Option | Description |", "| --- | --- |", *rows, ""]
    return lines


def cli_reference_markdown() -> str:
    """The Markdown reference of the ``barq`` command and all its subcommands."""
    import typer.main

    from barq_cli.main import app

    root = typer.main.get_command(app)
    root_ctx = _context(root, "barq")
    lines = _command_section(root, root_ctx, "barq", 2)
    for name in root.list_commands(root_ctx):
        command = root.get_command(root_ctx, name)
        if command is None or getattr(command, "hidden", False):
            continue
        lines += _command_section(command, _context(command, name, root_ctx), f"barq {name}", 2)
    return "\n".join(lines).rstrip() + "\n"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs event: expand the CLI reference marker."""
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, cli_reference_markdown())
    return markdown
