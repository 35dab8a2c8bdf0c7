"""``barq dev``: serve with hot reload, debug mode and a loopback stats endpoint."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from barq_cli.common import fail, load_config, locate_app, out_console
from barq_cli.config import (
    ConfigError,
    as_bool,
    as_int,
    as_str,
    as_str_list,
    checked_server_config,
    parse_host_port,
    pick_limits,
)
from barq_cli.helpformat import HelpCommand
from barq_cli.options import option, server_option

__all__ = ["register"]


def _dev_certificate(limits: dict[str, object]) -> dict[str, str]:
    """``--https``: the development certificate's files (made on first use)."""
    from barq_cli.devcert import DevCertError, ensure_dev_certs, trust_hint

    if limits.get("ssl_certfile"):
        fail("--https makes its own certificate: give either --https or --ssl-certfile")
    try:
        certs = ensure_dev_certs()
    except (DevCertError, OSError) as exc:
        fail(str(exc))
    console = out_console()
    # soft_wrap: commands stay on one line, to be copied whole
    if certs.created:
        console.print(trust_hint(certs), markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(
            f"HTTPS with the development certificate in {certs.folder} "
            f"(trust {certs.ca}; `curl --cacert {certs.ca} ...`)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return {"ssl_certfile": str(certs.cert), "ssl_keyfile": str(certs.key)}


def register(app: typer.Typer) -> None:
    """Add the ``dev`` command to the CLI."""

    @app.command("dev", cls=HelpCommand)
    def dev(
        app_path: str | None = typer.Argument(
            None, metavar="APP", envvar="BARQ_APP", show_default=False, show_envvar=False,
            help="module:attribute or a .py file. Default: \\[tool.barq] app, then main.py, "
            "app.py, app/main.py, src/*/main.py.",
        ),
        host: str | None = option("--host", metavar="HOST", shown="127.0.0.1",
                                  envvar="BARQ_HOST", help="Interface to bind."),
        port: int | None = option("--port", "-p", metavar="PORT", shown="8000", min=0,
                                  max=65535, envvar="BARQ_PORT",
                                  help="Port to bind (0 picks a free one)."),
        threads: int | None = option("--threads", metavar="N", shown="2 per core, 4 to 64",
                                     min=1, max=1024, envvar="BARQ_THREADS",
                                     help="Worker threads."),
        reload_dirs: list[Path] = option(
            "--reload-dir", default=[], metavar="DIR", shown="the current directory",
            envvar="BARQ_RELOAD_DIRS", help="Directory to watch (repeatable).",
        ),
        reload_includes: list[str] = option(
            "--reload-include", default=[], metavar="GLOB", envvar="BARQ_RELOAD_INCLUDES",
            help="Also reload on files matching this glob, e.g. '*.html' (repeatable).",
        ),
        reload_excludes: list[str] = option(
            "--reload-exclude", default=[], metavar="GLOB", envvar="BARQ_RELOAD_EXCLUDES",
            help="Ignore files or directories matching this glob (repeatable).",
        ),
        stats: str | None = option(
            "--stats", metavar="HOST:PORT", shown="127.0.0.1:0 (a free port)",
            envvar="BARQ_DEV_STATS", help="Loopback address of the stats endpoint, or 'off'.",
        ),
        access_log: bool | None = option(
            "--access-log/--no-access-log", shown="on", envvar="BARQ_DEV_ACCESS_LOG",
            help="Log one line per request.",
        ),
        https: bool = option(
            "--https", default=False, shown="off", envvar="BARQ_DEV_HTTPS",
            help="Serve HTTPS with a local development certificate (made once with openssl; "
            "barq dev says where it lives and how to trust it).",
        ),
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
        """Run the app for development: hot reload on save, debug mode, stats endpoint.

        The server keeps answering while your code reloads; a broken edit shows its
        traceback here and on a 500 error page until the next good save. Options
        also read BARQ_<OPTION> and \\[tool.barq], like barq run's.
        """
        cli = dict(locals())
        if sys.platform == "win32":
            fail(
                "barq dev needs a POSIX system (Linux, macOS, BSD): its supervisor hands the "
                "listening socket to each new child by inheritance and stops children by "
                "process group.",
                "On Windows use WSL, or `barq run` (no reload).",
            )
        from barq_cli.supervisor import BindError, DevOptions, Supervisor

        tool = load_config()
        spec = locate_app(app_path, tool, quiet=True)  # the banner says what was found
        try:
            host = tool.pick("host", host, "127.0.0.1", as_str)
            port = tool.pick("port", port, 8000, as_int)
            threads = tool.pick("threads", threads, None, as_int)
            dirs = tool.pick("reload_dirs", reload_dirs, [], as_str_list)
            includes = tool.pick("reload_includes", reload_includes, [], as_str_list)
            excludes = tool.pick("reload_excludes", reload_excludes, [], as_str_list)
            stats_text = tool.pick("dev_stats", stats, "127.0.0.1:0", as_str)
            stats_address = (
                None
                if stats_text.strip().lower() in ("off", "no", "false", "none")
                else parse_host_port(stats_text, what="--stats")
            )
            access = tool.pick("access_log", access_log, True, as_bool)
            limits = pick_limits(tool, cli)
            if https:
                limits.update(_dev_certificate(limits))
            # What the child will build: checked here, where the error can name
            # its source, rather than as a traceback in the child.
            checked_server_config(tool, host=host, port=port, threads=threads, **limits)
        except ConfigError as exc:
            fail(str(exc))
        if stats_address is not None:
            from barq.metrics import is_loopback

            if not is_loopback(stats_address[0]):
                fail(
                    f"the dev stats endpoint must listen on loopback, not {stats_address[0]}",
                    "Use e.g. --stats 127.0.0.1:9100 (or `barq run --stats` in production).",
                )
        roots = []
        for d in dirs:
            path = (tool.root / d).resolve()
            if not path.is_dir():
                fail(f"--reload-dir {d}: no such directory")
            roots.append(path)

        options = DevOptions(
            spec=spec,
            host=host,
            port=port,
            threads=threads,
            reload_dirs=roots,
            reload_includes=includes,
            reload_excludes=excludes,
            stats=stats_address,
            root=tool.root,
            access_log=access,
            limits=limits,
        )
        supervisor = Supervisor(options, out_console())
        try:
            supervisor.bind()
        except BindError as exc:
            hint = "Stop the other server or pick another port with --port."
            fail(exc.strerror or str(exc), hint)
        raise typer.Exit(supervisor.run())
