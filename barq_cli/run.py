"""``barq run``: production serving (no reload, no debug)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
from rich.markup import escape

from barq_cli.common import err_console, fail, load_config, locate_app
from barq_cli.config import (
    ConfigError,
    ToolConfig,
    as_bool,
    as_int,
    as_str,
    checked_server_config,
    pick_limits,
)
from barq_cli.helpformat import HelpCommand
from barq_cli.options import option, server_option

__all__ = ["register", "serve_app"]


def _settings(tool: ToolConfig, cli: dict[str, Any]) -> dict[str, Any]:
    """Merge command line/environment (``cli``) with ``[tool.barq]`` and defaults."""
    s: dict[str, Any] = {
        "host": tool.pick("host", cli["host"], "127.0.0.1", as_str),
        "port": tool.pick("port", cli["port"], 8000, as_int),
        "uds": tool.pick("uds", cli["uds"], None, as_str),
        "threads": tool.pick("threads", cli["threads"], None, as_int),
        "stats": tool.pick("stats", cli["stats"], None, as_str),
        "stats_allow_remote": tool.pick(
            "stats_allow_remote", cli["stats_allow_remote"], False, as_bool
        ),
        "proxy_headers": tool.pick("proxy_headers", cli["proxy_headers"], False, as_bool),
        "forwarded_allow_ips": tool.pick(
            "forwarded_allow_ips", cli["forwarded_allow_ips"], "127.0.0.1", as_str
        ),
        "access_log": tool.pick("access_log", cli["access_log"], False, as_bool),
    }
    s["limits"] = pick_limits(tool, cli)
    return s


def serve_app(app_path: str | None, cli: dict[str, Any], verbose: bool) -> None:
    """Resolve settings, import the app and serve it until SIGINT/SIGTERM."""
    from barq.server import AddressInUseError, Server, StartupError
    from barq_cli.discovery import AppImportError, import_app
    from barq_cli.proxy import ProxyHeadersApp, TrustedProxies

    tool = load_config()
    spec = locate_app(app_path, tool)
    try:
        settings = _settings(tool, cli)
    except ConfigError as exc:
        fail(str(exc))
    try:
        config = checked_server_config(
            tool,
            host=settings["host"],
            port=settings["port"],
            uds=settings["uds"],
            threads=settings["threads"],
            access_log=settings["access_log"],
            **settings["limits"],
        )
    except ConfigError as exc:
        fail(str(exc))
    stats_address = None
    if settings["stats"]:
        from barq.metrics import StatsAddressError, parse_stats_address

        try:
            stats_address = parse_stats_address(settings["stats"])
        except StatsAddressError as exc:
            fail(f"--stats: {exc}")
    trusted = None
    if settings["proxy_headers"]:
        try:
            trusted = TrustedProxies(settings["forwarded_allow_ips"])
        except ValueError as exc:
            fail(f"--forwarded-allow-ips: {exc}")

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        application = import_app(spec)
    except AppImportError as exc:
        cause = exc.__cause__
        if verbose and exc.user_code and cause is not None:
            from rich.traceback import Traceback

            err_console().print(Traceback.from_exception(type(cause), cause, cause.__traceback__))
        hint = "" if verbose or not exc.user_code else "Run with --verbose for the traceback."
        fail(str(exc), *([hint] if hint else []))
    if trusted is not None:
        application = ProxyHeadersApp(application, trusted)

    metrics = None
    if stats_address is not None:
        from barq.metrics import Metrics

        metrics = Metrics()
        config = config.with_options(metrics=metrics)

    server = Server(application, config)
    try:
        server.start()
    except AddressInUseError as exc:
        fail(
            exc.strerror or str(exc),
            "Stop the other server, or choose another address with --port/--host/--uds.",
        )
    except StartupError as exc:
        if verbose and exc.__cause__ is not None:
            from rich.traceback import Traceback

            c = exc.__cause__
            err_console().print(Traceback.from_exception(type(c), c, c.__traceback__))
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen: {exc.strerror or exc}")

    stats = None
    if stats_address is not None and metrics is not None:
        from barq.metrics import StatsAddressError
        from barq.stats import start_stats_server

        try:
            stats = start_stats_server(
                metrics,
                *stats_address,
                allow_remote=settings["stats_allow_remote"],
                app_name=spec.import_string,
                app_addresses=server.addresses,
                mode="run",
            )
        except (StatsAddressError, OSError) as exc:
            server.stop(grace=0.5)
            fail(f"--stats: {getattr(exc, 'strerror', None) or exc}")
        err_console().print(
            f"Stats endpoint on [bold]{escape(stats.url)}[/] — run [bold]barq stats[/] to watch"
        )
    try:
        server.serve_forever()
    finally:
        if stats is not None:
            stats.stop()


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to the CLI."""

    @app.command("run", cls=HelpCommand)
    def run(
        app_path: str | None = typer.Argument(
            None, metavar="APP", envvar="BARQ_APP", show_default=False, show_envvar=False,
            help="module:attribute or a .py file. Default: \\[tool.barq] app, then discovery.",
        ),
        host: str | None = option("--host", metavar="HOST", shown="127.0.0.1",
                                  envvar="BARQ_HOST", help="Interface to bind."),
        port: int | None = option("--port", "-p", metavar="PORT", shown="8000", min=0,
                                  max=65535, envvar="BARQ_PORT", help="Port to bind."),
        uds: str | None = option("--uds", metavar="PATH", envvar="BARQ_UDS",
                                 help="Listen on this Unix socket instead."),
        threads: int | None = option("--threads", metavar="N", shown="2 per core, 4 to 64",
                                     min=1, max=1024, envvar="BARQ_THREADS",
                                     help="Worker threads."),
        stats: str | None = option("--stats", metavar="HOST:PORT", envvar="BARQ_STATS",
                                   help="Serve the stats endpoint on this loopback address."),
        stats_allow_remote: bool | None = option(
            "--stats-allow-remote", envvar="BARQ_STATS_ALLOW_REMOTE",
            help="Allow a --stats address that is not loopback.",
        ),
        proxy_headers: bool | None = option(
            "--proxy-headers/--no-proxy-headers", shown="off", envvar="BARQ_PROXY_HEADERS",
            help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips.",
        ),
        forwarded_allow_ips: str | None = option(
            "--forwarded-allow-ips", metavar="IPS", shown="127.0.0.1",
            envvar="BARQ_FORWARDED_ALLOW_IPS",
            help="Proxy addresses or networks to trust (comma-separated), '*' or 'unix'.",
        ),
        access_log: bool | None = option(
            "--access-log/--no-access-log", shown="off", envvar="BARQ_ACCESS_LOG",
            help="Log one line per request.",
        ),
        verbose: bool = option("--verbose", "-v", default=False,
                               help="Show tracebacks for errors."),
        # Limits and timeouts: options generated from ServerConfig (barq_cli.options).
        backlog: Annotated[int | None, server_option("backlog")] = None,
        max_connections: Annotated[int | None, server_option("max_connections")] = None,
        max_connections_per_client: Annotated[
            int | None, server_option("max_connections_per_client")
        ] = None,
        max_request_line: Annotated[int | None, server_option("max_request_line")] = None,
        max_header_bytes: Annotated[int | None, server_option("max_header_bytes")] = None,
        max_headers: Annotated[int | None, server_option("max_headers")] = None,
        max_body_bytes: Annotated[int | None, server_option("max_body_bytes")] = None,
        header_timeout: Annotated[float | None, server_option("header_timeout")] = None,
        body_timeout: Annotated[float | None, server_option("body_timeout")] = None,
        request_timeout: Annotated[float | None, server_option("request_timeout")] = None,
        min_rate: Annotated[float | None, server_option("min_rate")] = None,
        body_spool_bytes: Annotated[int | None, server_option("body_spool_bytes")] = None,
        keepalive_timeout: Annotated[float | None, server_option("keepalive_timeout")] = None,
        write_timeout: Annotated[float | None, server_option("write_timeout")] = None,
        graceful_timeout: Annotated[float | None, server_option("graceful_timeout")] = None,
        max_websockets: Annotated[int | None, server_option("max_websockets")] = None,
        ws_max_message_bytes: Annotated[int | None, server_option("ws_max_message_bytes")] = None,
        ws_ping_interval: Annotated[float | None, server_option("ws_ping_interval")] = None,
        ws_ping_timeout: Annotated[float | None, server_option("ws_ping_timeout")] = None,
        event_backend: Annotated[str | None, server_option("event_backend")] = None,
        ssl_certfile: Annotated[str | None, server_option("ssl_certfile")] = None,
        ssl_keyfile: Annotated[str | None, server_option("ssl_keyfile")] = None,
        ssl_keyfile_password: Annotated[str | None, server_option("ssl_keyfile_password")] = None,
        ssl_ca_certs: Annotated[str | None, server_option("ssl_ca_certs")] = None,
        ssl_cert_reqs: Annotated[str | None, server_option("ssl_cert_reqs")] = None,
        handshake_timeout: Annotated[float | None, server_option("handshake_timeout")] = None,
    ) -> None:  # fmt: skip
        """Serve the app in production: no reload, no debug, all limits configurable.

        Every option also reads an environment variable (--max-body-bytes:
        BARQ_MAX_BODY_BYTES) and a default from \\[tool.barq] in pyproject.toml
        (max_body_bytes = ...); the command line wins, then the environment.
        """
        cli = dict(locals())
        verbose = cli.pop("verbose")
        serve_app(cli.pop("app_path"), cli, verbose)
