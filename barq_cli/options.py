"""Typer options generated from :class:`barq.server.ServerConfig`'s field metadata.

A command declares a server limit as a plain parameter whose option comes from
here, e.g. ``max_body_bytes: Annotated[int | None, server_option("max_body_bytes")]
= None``: the flag (``--max-body-bytes``), the environment variable
(``BARQ_MAX_BODY_BYTES``), the help text and the default shown in ``--help`` are
the config field's. ``tests/test_cli_run.py`` checks that every field marked
``cli`` is a parameter of ``barq run`` with its field's type, so a new limit in
``ServerConfig`` cannot be forgotten here.
"""

from __future__ import annotations

from typing import Any

import typer

from barq_cli.config import SERVER_OPTIONS, ServerOption

__all__ = ["LIMITS_PANEL", "server_option"]

#: The ``--help`` panel the generated options are listed in.
LIMITS_PANEL = "Limits and timeouts"

_BY_NAME: dict[str, ServerOption] = {option.name: option for option in SERVER_OPTIONS}


def server_option(name: str) -> Any:
    """The ``typer.Option`` for the :class:`~barq.server.ServerConfig` field ``name``."""
    option = _BY_NAME[name]
    return typer.Option(
        option.flag,
        envvar=option.envvar,
        help=option.help,
        show_default=_shown(option.default),
        rich_help_panel=LIMITS_PANEL,
    )


def _shown(value: Any) -> str:
    if value is None:
        return "no limit"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if isinstance(value, int) and value >= 1024 * 1024 and value % (1024 * 1024) == 0:
        return f"{value} = {value // (1024 * 1024)} MiB"
    return str(value)
