"""Typer options written once: defaults shown in ``--help``, generated server limits.

``barq``'s help is meant to be read at 80 columns: every option has a short
metavar (``HOST``, ``N``, ``SECONDS``; none on flags), its default in the help
text (``[default: 8000]``, escaped so Rich does not take it for markup), and
no per-option environment-variable line — each command's description states the
``BARQ_<OPTION>`` rule once (:mod:`barq_cli.helpformat` lays it out).

A command declares a server limit as a plain parameter whose option comes from
:func:`server_option`, e.g. ``max_body_bytes: Annotated[int | None,
server_option("max_body_bytes")] = None``: the flag, the environment variable,
the help text and the default are those of the :class:`barq.server.ServerConfig`
field. ``tests/test_cli_run.py`` checks that every field marked ``cli`` is a
parameter of ``barq run`` with its field's type, so a new limit cannot be
forgotten here.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from barq_cli.config import SERVER_OPTIONS, ServerOption

__all__ = ["LIMITS_PANEL", "option", "server_option"]

#: The ``--help`` panel the generated options are listed in.
LIMITS_PANEL = "Limits and timeouts"

_BY_NAME: dict[str, ServerOption] = {option.name: option for option in SERVER_OPTIONS}


def option(
    *flags: str,
    help: str,
    default: Any = None,
    shown: str | None = None,
    metavar: str = "",
    envvar: str | None = None,
    panel: str | None = None,
    **extra: Any,
) -> Any:
    """A ``typer.Option`` with ``shown`` as its documented default (``metavar=""``
    for flags)."""
    return typer.Option(
        default,
        *flags,
        help=_with_default(help, shown),
        metavar=metavar,
        envvar=envvar,
        show_envvar=True,  # named in error messages; the help renderer leaves it out
        show_default=False,
        rich_help_panel=panel,
        **extra,
    )


def _with_default(help: str, shown: str | None) -> str:
    return help if shown is None else f"{help} [dim]\\[default: {escape(shown)}][/]"


def server_option(name: str) -> Any:
    """The option for the :class:`~barq.server.ServerConfig` field ``name``."""
    spec = _BY_NAME[name]
    timed = "timeout" in name or "interval" in name
    metavar = "SECONDS" if spec.type is float and timed else "N"
    in_bytes = name.endswith("_bytes") or name == "max_request_line"
    if name == "min_rate":
        metavar = "BYTES/S"
    elif in_bytes:
        metavar = "BYTES"
    elif name == "ssl_keyfile_password":
        metavar = "PASSWORD"
    elif name.startswith("ssl_") and name != "ssl_cert_reqs":
        metavar = "FILE"
    elif spec.type is str:
        metavar = "NAME"
    # For ``Annotated[..., server_option(name)] = None``: no default here.
    return typer.Option(
        spec.flag,
        help=_with_default(spec.help, _shown(spec.default, in_bytes)),
        metavar=metavar,
        envvar=spec.envvar,
        show_envvar=True,  # named in error messages; the help renderer leaves it out
        show_default=False,
        rich_help_panel=LIMITS_PANEL,
    )


def _shown(value: Any, in_bytes: bool = False) -> str:
    if value is None:
        return "no limit"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if in_bytes and isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        unit, size = ("MiB", value // 2**20) if value % 2**20 == 0 else ("KiB", value // 1024)
        return f"{size} {unit}"
    return str(value)
