"""The process that runs the user's application for ``barq dev``.

Started by :mod:`barq_cli.supervisor` as ``python -m barq_cli.child`` with the
listening socket inherited (``pass_fds``). Its life:

1. *standby*: import Barq, Pydantic and the server (the slow, unchanging part),
   report ``standby`` and wait for ``go`` on the control pipe. The supervisor keeps
   one such warm child ready, so a reload only pays for importing the user's code.
2. *loading*: import the user's application fresh. If that fails (syntax error,
   import error, exception at import), print a Rich traceback and serve
   :class:`barq_cli.errorpage.ErrorApp` instead, so requests see the same error.
3. *serving*: start the server on the inherited socket (it shares the socket with
   the previous child until that one stops accepting), then report ``ready``.
4. *stopping*: on ``stop``, a closed control pipe, SIGTERM/SIGINT or the death of
   the supervisor: stop accepting, drain in-flight requests, exit.

Messages to the supervisor are JSON lines on the status pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGTERM us when the supervisor dies; exit if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(0)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m barq_cli.child")
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--status-fd", type=int, required=True)
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--app", required=True, help="module:attribute")
    parser.add_argument("--app-dir", required=True)
    parser.add_argument("--search-attribute", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--graceful-timeout", type=float, default=3.0)
    parser.add_argument("--stats-fd", type=int, default=None)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--server-options", type=json.loads, default={}, help="JSON object")
    return parser.parse_args(argv)


class _Channel:
    """The status pipe to the supervisor (JSON lines)."""

    def __init__(self, fd: int) -> None:
        self._file: TextIO = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()

    def send(self, event: str, **fields: Any) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._file.write(json.dumps({"event": event, **fields}) + "\n")
            self._file.flush()


def _warm_imports() -> None:
    """Import what every reload needs, before the user's code is known."""
    import barq
    import barq.http.messages
    import barq.server
    import barq_cli.discovery
    import barq_cli.errorpage  # noqa: F401

    # Everything a user's module may import from Barq (its public names load
    # lazily), and what serving needs, so that a reload only imports user code.
    names = {*barq._EXPORTS.values(), "barq.testing", "barq.openapi", "barq.metrics", "barq.stats"}
    for name in (*sorted(names), "pydantic", "rich.traceback"):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        _warm_framework()


def _warm_framework() -> None:
    """Run the framework once on a throwaway app: Pydantic loads most of itself
    (and scans for plugins) only when the first model and validator are built,
    which would otherwise cost the first load of the user's code ~100 ms."""
    from pydantic import BaseModel

    from barq import Barq, Depends
    from barq.testing import TestClient

    class Warm(BaseModel):
        name: str
        count: int = 0
        tags: list[str] = []

    def dependency(q: str | None = None) -> str | None:
        return q

    warm = Barq()

    @warm.post("/warm/{item_id}")
    def handler(item_id: int, item: Warm, q: str | None = Depends(dependency)) -> Warm:
        return item

    with TestClient(warm) as client:
        client.post("/warm/1", json={"name": "n"})
        client.get("/openapi.json")


def _print_load_error(exc: BaseException, summary: str) -> None:
    from rich.console import Console
    from rich.traceback import Traceback

    from barq_cli.errorpage import user_frames

    console = Console(stderr=True)
    console.print(f"[bold red]barq dev: {summary}[/]")
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if getattr(exc, "user_code", True):
        console.print(
            Traceback.from_exception(
                type(cause), cause, user_frames(cause.__traceback__), max_frames=30
            )
        )
    console.print(
        "[yellow]Requests get a 500 page showing this error; fix it and save to reload.[/]"
    )


def _load_application(spec: Any) -> tuple[Any, Any]:
    """Return ``(application, load_error)``; the error app when the import failed."""
    from barq_cli.discovery import AppImportError, import_app
    from barq_cli.errorpage import ErrorApp, LoadError

    try:
        app = import_app(spec)
    except AppImportError as exc:
        cause = exc.__cause__ if exc.user_code and exc.__cause__ is not None else exc
        error = LoadError.from_exception(cause, None if exc.user_code else str(exc))
        _print_load_error(exc, f"could not load {spec.import_string}: {error.summary}")
        return ErrorApp(error), error
    if hasattr(app, "debug"):
        with contextlib.suppress(Exception):
            app.debug = True
    return app, None


def _start_stats(stats_fd: int | None, metrics: Any) -> Any:
    """Serve the stats endpoint on the supervisor's loopback socket, if any."""
    if stats_fd is None or metrics is None:
        return None
    try:
        from barq.metrics import make_stats_app
        from barq.server import Server, ServerConfig
    except ImportError:
        return None
    server = Server(
        make_stats_app(metrics),
        ServerConfig(
            fd=os.dup(stats_fd), threads=1, install_signal_handlers=False, graceful_timeout=1.0
        ),
    )
    try:
        server.start()
    except Exception as exc:
        print(f"barq dev: stats endpoint unavailable: {exc}", file=sys.stderr)
        return None
    return server


def main(argv: list[str] | None = None) -> int:
    """Run one dev child; see the module docstring."""
    args = _parse_args(argv)
    _die_with_parent(args.parent_pid)
    stop = threading.Event()
    go = threading.Event()
    # A signal handler must not take locks: it runs between two bytecodes of the
    # main thread, which may itself be inside Event.set() holding the Event's
    # lock (a second SIGTERM arriving then would deadlock). So the handler only
    # flips a flag, and the main thread's wait loops poll it.
    signalled: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        signalled.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    def should_stop(timeout: float) -> bool:
        return bool(signalled) or stop.wait(timeout)

    channel = _Channel(args.status_fd)

    def read_control() -> None:
        with os.fdopen(args.control_fd, "r", encoding="utf-8") as control:
            for line in control:
                command = line.strip()
                if command == "go":
                    go.set()
                elif command == "stop":
                    break
        stop.set()  # "stop" or the supervisor went away

    threading.Thread(target=read_control, name="barq-dev-control", daemon=True).start()

    _warm_imports()
    channel.send("standby", pid=os.getpid())
    while not go.is_set():
        if should_stop(0.05):
            return 0

    started = time.perf_counter()
    from barq_cli.discovery import AppSpec

    module, _, attribute = args.app.partition(":")
    spec = AppSpec(
        module, attribute or "app", Path(args.app_dir), "dev", None, not args.search_attribute
    )
    sys.dont_write_bytecode = True  # same-second edits must never load a stale .pyc
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # The banner already says where we serve; keep the access log and warnings.
    logging.getLogger("barq.server").setLevel(logging.WARNING)
    app, error = _load_application(spec)

    from barq.server import Server, ServerConfig

    metrics = None
    with contextlib.suppress(Exception):
        from barq.metrics import Metrics

        metrics = Metrics()
    # Each Server gets its own duplicate of the inherited socket: what it closes
    # is its own, the socket stays open in the supervisor and the next child.
    options = dict(args.server_options)
    # The supervisor kills a child that drains longer than it allows.
    options["graceful_timeout"] = min(
        options.get("graceful_timeout", args.graceful_timeout), args.graceful_timeout
    )
    config = ServerConfig(
        fd=os.dup(args.fd),
        threads=args.threads,
        access_log=not args.no_access_log,
        metrics=metrics,
        install_signal_handlers=False,
        **options,
    )
    server = Server(app, config)
    try:
        server.start()
    except Exception as exc:  # e.g. app.startup() failed
        from barq_cli.errorpage import ErrorApp, LoadError

        error = LoadError.from_exception(exc, f"application startup failed: {exc}")
        _print_load_error(exc, error.summary)
        server = Server(ErrorApp(error), config.with_options(fd=os.dup(args.fd), metrics=None))
        server.start()
    stats_server = _start_stats(args.stats_fd, metrics)

    from barq.runtime import free_threaded_build, gil_advice, gil_enabled

    channel.send(
        "ready",
        gil_advice=gil_advice(),
        docs=getattr(app, "docs_url", None) if error is None else None,
        ok=error is None,
        error=None if error is None else error.summary,
        location=None if error is None else error.location,
        load_ms=round((time.perf_counter() - started) * 1000, 1),
        free_threaded=free_threaded_build(),
        gil=gil_enabled(),
        threads=config.worker_count(),
    )
    while not should_stop(0.1):
        pass
    with contextlib.suppress(Exception):
        server.stop()
    if stats_server is not None:
        with contextlib.suppress(Exception):
            stats_server.stop()
    channel.send("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    # Never wait for the user's non-daemon threads: the supervisor wants us gone.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
