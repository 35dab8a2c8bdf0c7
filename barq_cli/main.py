"""The Typer application behind the ``barq`` command.

Each command is a thin layer over an importable function in its own module.
"""

from __future__ import annotations

import typer

from barq import __version__

app = typer.Typer(
    name="barq",
    help="Barq: a fast HTTP framework and server for free-threaded Python.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        from barq.runtime import describe_interpreter

        typer.echo(f"barq {__version__} ({describe_interpreter()})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", help="Show the version and exit.", callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """Barq: a fast HTTP framework and server for free-threaded Python."""


def main() -> None:
    """Console-script entry point."""
    app()
