"""Settings for ``barq dev`` and ``barq run``: command line, ``BARQ_*``, ``[tool.barq]``.

Precedence, highest first: a command-line option, its ``BARQ_<NAME>`` environment
variable (Typer reads both), the ``[tool.barq]`` table of ``pyproject.toml`` in the
current directory, the built-in default. Keys in ``[tool.barq]`` use the option
names with ``_`` or ``-`` (``max_body_bytes`` or ``max-body-bytes``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_type_hints

__all__ = [
    "SERVER_OPTIONS",
    "ConfigError",
    "ServerOption",
    "ToolConfig",
    "load_tool_config",
    "parse_host_port",
    "pick_limits",
]


class ConfigError(ValueError):
    """A bad setting; the message names where it came from."""


@dataclass(frozen=True)
class ServerOption:
    """A server limit or timeout exposed as ``--<name>``, ``BARQ_<NAME>`` and a
    ``[tool.barq]`` key; generated from :class:`barq.server.ServerConfig`."""

    name: str
    type: type
    help: str
    default: Any

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def envvar(self) -> str:
        return "BARQ_" + self.name.upper()


def _server_options() -> tuple[ServerOption, ...]:
    from barq.server.config import ServerConfig, cli_fields, field_default

    hints = get_type_hints(ServerConfig)
    options = []
    for f in cli_fields():
        # ``int | None`` (an optional limit) is read as an int
        kinds = [t for t in get_args(hints[f.name]) if t is not type(None)] or [hints[f.name]]
        options.append(ServerOption(f.name, kinds[0], str(f.metadata["help"]), field_default(f)))
    return tuple(options)


#: The ServerConfig limits and timeouts that ``barq run`` exposes (its field metadata).
SERVER_OPTIONS: tuple[ServerOption, ...] = _server_options()


#: ``[tool.barq]`` keys besides the server limits (SERVER_OPTIONS).
KNOWN_KEYS = frozenset(
    {
        "app",
        "host",
        "port",
        "uds",
        "threads",
        "access_log",
        "stats",
        "stats_allow_remote",
        "proxy_headers",
        "forwarded_allow_ips",
        "dev_stats",
        "reload_dirs",
        "reload_includes",
        "reload_excludes",
    }
)


@dataclass
class ToolConfig:
    """The ``[tool.barq]`` table of ``pyproject.toml`` (empty when there is none)."""

    root: Path
    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    #: keys whose value :meth:`pick` took from the file (for error messages)
    picked: set[str] = field(default_factory=set)

    def where(self, key: str) -> str:
        return f"[tool.barq] {key} in {self.path}" if self.path else key

    def get(self, key: str, convert: Callable[[Any], Any] | None = None) -> Any:
        """The value of ``key`` (None when unset), converted and checked."""
        if key not in self.values:
            return None
        value = self.values[key]
        if convert is None:
            return value
        try:
            return convert(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.where(key)}: {exc}") from None

    def unknown_keys(self) -> list[tuple[str, str | None]]:
        """Keys Barq does not know, each with the known key it most likely meant."""
        import difflib

        known = KNOWN_KEYS | {option.name for option in SERVER_OPTIONS}
        out = []
        for key in sorted(self.values):
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                out.append((key, close[0] if close else None))
        return out

    def pick(self, key: str, cli_value: Any, default: Any, convert: Any = None) -> Any:
        """``cli_value`` (command line or environment) if given, else the table, else default."""
        if cli_value is not None and cli_value != () and cli_value != []:
            return cli_value
        value = self.get(key, convert)
        if value is None:
            return default
        self.picked.add(key)
        return value

    def source(self, option: ServerOption) -> str:
        """Where ``option``'s value came from, for an error message."""
        if option.name in self.picked:
            return self.where(option.name)
        return f"{option.flag} (or {option.envvar})"


def load_tool_config(directory: Path | None = None) -> ToolConfig:
    """Read ``[tool.barq]`` from ``directory/pyproject.toml`` (the current directory)."""
    root = (directory or Path.cwd()).resolve()
    path = root / "pyproject.toml"
    if not path.is_file():
        return ToolConfig(root=root)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    table = data.get("tool", {}).get("barq", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.barq] in {path} must be a table")
    values = {str(k).replace("-", "_"): v for k, v in table.items()}
    return ToolConfig(root=root, path=path, values=values)


# --- converters for [tool.barq] values (TOML already gives typed values) ---------


def as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def as_str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return list(value)


CONVERTERS: dict[type, Callable[[Any], Any]] = {
    int: as_int,
    float: as_float,
    bool: as_bool,
    str: as_str,
}


_BASIC_OPTIONS = (
    ServerOption("threads", int, "", None),
    ServerOption("port", int, "", 8000),
    ServerOption("host", str, "", "127.0.0.1"),
)


def checked_server_config(tool: ToolConfig, **settings: Any) -> Any:
    """``ServerConfig(**settings)``, validated; a bad value raises
    :class:`ConfigError` naming where it came from (the flag or environment
    variable, or the ``[tool.barq]`` key and its file)."""
    from barq.server import ServerConfig

    try:
        config = ServerConfig(**settings)
        config.validate()
        config.ssl_context()  # the certificate and key load (or the error names the option)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        for option in (*SERVER_OPTIONS, *_BASIC_OPTIONS):
            if message.startswith(option.name + " "):
                raise ConfigError(f"{tool.source(option)}: {message}") from None
        raise ConfigError(f"bad option value: {message}") from None
    return config


def pick_limits(tool: ToolConfig, cli: dict[str, Any]) -> dict[str, Any]:
    """The server limits given on the command line (or environment) or in
    ``[tool.barq]``, by ServerConfig field name (unset ones left out)."""
    limits = {}
    for option in SERVER_OPTIONS:
        value = tool.pick(option.name, cli.get(option.name), None, CONVERTERS[option.type])
        if value is not None:
            limits[option.name] = value
    return limits


def parse_host_port(value: str, *, what: str = "address") -> tuple[str, int]:
    """``"127.0.0.1:9000"``, ``"[::1]:9000"`` or ``":9000"`` → ``(host, port)``."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigError(f"{what} must look like HOST:PORT (e.g. 127.0.0.1:9000), not {value!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{what}: port must be between 0 and 65535, not {port}")
    host = host.strip("[]") or "127.0.0.1"
    return host, port
