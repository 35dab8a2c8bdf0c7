"""``barq dev``: serve with hot reload, debug mode and a loopback stats endpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from barq_cli.common import fail, load_config, locate_app, out_console
from barq_cli.config import ConfigError, as_int, as_str, as_str_list, parse_host_port

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``dev`` command to the CLI."""

    @app.command("dev")
    def dev(
        app_path: str | None = typer.Argument(
            None,
            metavar="[APP]",
            help="module:attribute or a .py file. Default: \\[tool.barq] app, then main.py, "
            "app.py, app/main.py, src/*/main.py.",
            envvar="BARQ_APP",
            show_default=False,
        ),
        host: str | None = typer.Option(
            None, "--host", envvar="BARQ_HOST", help="Interface to bind.  [default: 127.0.0.1]"
        ),
        port: int | None = typer.Option(
            None, "--port", "-p", envvar="BARQ_PORT", min=0, max=65535,
            help="Port to bind (0 picks a free one).  [default: 8000]",
        ),
        threads: int | None = typer.Option(
            None, "--threads", envvar="BARQ_THREADS", min=1, max=1024,
            help="Worker threads.  [default: 2 per core, 4 to 64]",
        ),
        reload_dirs: list[Path] = typer.Option(
            [], "--reload-dir", envvar="BARQ_RELOAD_DIRS",
            help="Directory to watch (repeatable).  [default: the current directory]",
        ),
        reload_includes: list[str] = typer.Option(
            [], "--reload-include", envvar="BARQ_RELOAD_INCLUDES",
            help="Also reload on files matching this glob, e.g. '*.html' (repeatable).",
        ),
        reload_excludes: list[str] = typer.Option(
            [], "--reload-exclude", envvar="BARQ_RELOAD_EXCLUDES",
            help="Ignore files or directories matching this glob (repeatable).",
        ),
        stats: str | None = typer.Option(
            None, "--stats", envvar="BARQ_DEV_STATS",
            help="Loopback HOST:PORT for the stats endpoint, or 'off'.  [default: 127.0.0.1:0]",
        ),
    ) -> None:  # fmt: skip
        """Run the app for development: hot reload on save, debug mode, stats endpoint.

        The server keeps answering while your code reloads; a broken edit shows its
        traceback here and on a 500 error page until the next good save.
        """
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
        except ConfigError as exc:
            fail(str(exc))
        if not 0 <= port <= 65535:
            fail(f"port must be between 0 and 65535, not {port}")
        if threads is not None and threads < 1:
            fail(f"threads must be at least 1, not {threads}")
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
        )
        supervisor = Supervisor(options, out_console())
        try:
            supervisor.bind()
        except BindError as exc:
            hint = "Stop the other server or pick another port with --port."
            fail(exc.strerror or str(exc), hint)
        raise typer.Exit(supervisor.run())
