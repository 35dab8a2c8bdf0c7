"""`--help` of every command reads well at 80 and 60 columns.

No option name or number is cut to ``…``, flags show no ``<bool>`` type, no line
is wider than the terminal, every option is listed by its full name and the
defaults are shown.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from barq.server.config import cli_fields

COMMANDS = ["", "new", "dev", "run", "routes", "stats"]


def _help(command: str, columns: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARQ_")}
    env.update(COLUMNS=str(columns), NO_COLOR="1", TERM="xterm-256color")
    argv = [sys.executable, "-m", "barq_cli", *([command] if command else []), "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _flat(text: str) -> str:
    """The help's words in order, without the panels' borders."""
    return " ".join(text.replace("│", " ").split())


def _long_options(command: str) -> list[str]:
    from barq_cli.main import app

    group = typer.main.get_command(app)
    target = group if not command else group.commands[command]  # type: ignore[attr-defined]
    names = []
    for param in target.params:
        names += [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
    return names


@pytest.mark.parametrize("columns", [80, 60])
@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_the_terminal_and_cuts_nothing(command: str, columns: int) -> None:
    text = _help(command, columns)
    assert "…" not in text, text
    assert "<bool>" not in text and "<str>" not in text and "<int" not in text, text
    widest = max(len(line) for line in text.splitlines())
    assert widest <= columns, f"a line of {widest} columns:\n{text}"
    flat = _flat(text)
    for name in _long_options(command):
        assert name in flat, f"{name} missing from:\n{text}"


def test_defaults_are_shown() -> None:
    for command in ("run", "dev"):
        flat = _flat(_help(command, 120))
        assert "--host HOST Interface to bind. [default: 127.0.0.1]" in flat
        assert "[default: 8000]" in flat
        assert "[default: 16 MiB]" in flat and "[default: 10]" in flat
    assert "[default: minimal]" in _flat(_help("new", 120))


def test_dev_takes_every_server_limit_too() -> None:
    """`barq dev` has the same generated limit options as `barq run`."""
    import typing

    from barq.server.config import ServerConfig
    from barq_cli.main import app as cli_app

    command = next(c for c in cli_app.registered_commands if c.name == "dev")
    assert command.callback is not None
    hints = typing.get_type_hints(command.callback, include_extras=True)
    config_types = typing.get_type_hints(ServerConfig)
    for f in cli_fields():
        assert typing.get_args(hints[f.name])[0] == config_types[f.name] | None, f.name
