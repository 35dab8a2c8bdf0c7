"""The Typer application behind the ``barq`` command.

Each command lives in its own module (``barq_cli/<command>.py``) as a thin layer
over importable, tested functions; the module's ``register(app)`` adds it here.
"""

from __future__ import annotations

import typer

from barq import __version__
from barq_cli.helpformat import HelpGroup
from barq_cli.options import option

app = typer.Typer(
    name="barq",
    cls=HelpGroup,
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
    version: bool = option(
        "--version",
        "-V",
        default=False,
        help="Show the version and exit.",
        callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """Barq: a fast HTTP framework and server for free-threaded Python."""


def _register_commands() -> None:
    from barq_cli import dev, doctor, new, routes, run, stats

    for module in (new, dev, run, routes, stats, doctor):
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
