"""The ``barq dev`` supervisor: one listening socket, a warm standby, hot reloads.

The supervisor never imports the user's code. It binds the listening socket (and
the loopback stats socket) once, and runs the application in child processes
(:mod:`barq_cli.child`) that inherit both sockets. It always keeps one *standby*
child that has already imported Barq and Pydantic and waits for ``go``.

A reload: a batch of file changes arrives from the watcher → the standby gets
``go`` and imports the fresh code while the current child keeps serving → it
reports ``ready`` (both accept on the shared socket for a moment) → the old child
gets ``stop``: it stops accepting, drains in-flight requests and exits (it is
killed if it takes too long) → a new standby is spawned. Changes that arrive
during a reload cause exactly one more reload afterwards.

A child that cannot load the application serves an error page instead, so the
supervisor only ever sees ``ready``; a child that dies is reported and replaced.
Ctrl+C / SIGTERM stop every child (each runs in its own session and also gets
SIGTERM from the kernel if the supervisor dies) and exit 0.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from barq_cli.discovery import AppSpec
from barq_cli.watching import ChangeFilter, Watcher

__all__ = ["DevOptions", "Supervisor", "bind_socket"]

#: Seconds a stopping child may take to drain before it is killed.
DRAIN_TIMEOUT = 3.0
#: Seconds everything may take to stop on Ctrl+C before children are killed.
SHUTDOWN_TIMEOUT = 4.0


class BindError(OSError):
    """The listening address cannot be bound (message is user-facing)."""


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """Bind and listen on ``host:port`` (IPv4 or IPv6); errors become :class:`BindError`."""
    from barq.server.listeners import AddressInUseError, bind_tcp

    try:
        return bind_tcp(host, port, backlog)
    except AddressInUseError as exc:
        raise BindError(exc.errno, f"address {host}:{port} is already in use") from None
    except OSError as exc:
        if exc.errno == errno.EACCES:
            raise BindError(exc.errno, f"permission denied binding {host}:{port}") from None
        raise BindError(exc.errno or 0, f"cannot bind {host}:{port}: {exc}") from None


@dataclass
class DevOptions:
    """Everything ``barq dev`` needs to supervise an application."""

    spec: AppSpec
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int | None = None
    reload_dirs: Sequence[Path] = ()
    reload_includes: Sequence[str] = ()
    reload_excludes: Sequence[str] = ()
    stats: tuple[str, int] | None = ("127.0.0.1", 0)
    root: Path = field(default_factory=Path.cwd)
    access_log: bool = True
    #: ServerConfig limits and timeouts given on the command line or in [tool.barq]
    limits: dict[str, Any] = field(default_factory=dict)


class Child:
    """One child process as the supervisor sees it."""

    def __init__(self, proc: subprocess.Popen[bytes], status_fd: int, control_fd: int) -> None:
        self.proc = proc
        self.status_fd = status_fd
        self.control_fd = control_fd
        self.buffer = b""
        self.state = "starting"  # starting → standby → loading → serving → stopping
        self.stop_deadline: float | None = None
        self.ready: dict[str, Any] | None = None
        self.spawned_at = time.monotonic()
        self.go_at = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, command: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.control_fd, (command + "\n").encode())

    def close_control(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.control_fd)
        self.control_fd = -1

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.kill()


class Supervisor:
    """Runs ``barq dev``; see the module docstring."""

    def __init__(self, options: DevOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console(highlight=False)
        self.selector = selectors.DefaultSelector()
        self.children: list[Child] = []
        self.serving: Child | None = None
        self.loading: Child | None = None
        self.standby: Child | None = None
        self.reload_wanted = True  # the first load
        self.pending_changes: set[str] = set()
        self.changes_lock = threading.Lock()
        self.shutting_down = False
        self.banner_shown = False
        self.next_spawn_at = 0.0
        self.sock: socket.socket | None = None
        self.stats_sock: socket.socket | None = None
        self.stats_url: str | None = None
        self.registry_path: Path | None = None
        self.reload_started_at: float | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # -- setup -------------------------------------------------------------------

    def bind(self) -> None:
        """Bind the application and stats sockets (raises BindError)."""
        backlog = int(self.options.limits.get("backlog", 2048))
        self.sock = bind_socket(self.options.host, self.options.port, backlog)
        if self.options.stats is not None:
            host, port = self.options.stats
            try:
                self.stats_sock = bind_socket(host, port, backlog=64)
            except BindError as exc:
                self.console.print(
                    f"[yellow]Stats endpoint disabled: {escape(exc.strerror or str(exc))}[/]"
                )
            else:
                bound = self.stats_sock.getsockname()
                display = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                self.stats_url = f"http://{display}:{bound[1]}"

    @property
    def url(self) -> str:
        assert self.sock is not None
        host, port = self.sock.getsockname()[:2]
        shown = self.options.host if self.options.host not in ("0.0.0.0", "::") else host
        if ":" in shown:
            shown = f"[{shown.strip('[]')}]"
        scheme = "https" if self.options.limits.get("ssl_certfile") else "http"
        return f"{scheme}://{shown}:{port}"

    def _register_stats(self) -> None:
        if self.stats_sock is None or self.stats_url is None:
            return
        with contextlib.suppress(Exception):
            from barq.metrics.registry import register_server

            host, port = self.stats_sock.getsockname()[:2]
            self.registry_path = register_server(
                {
                    "pid": os.getpid(),
                    "host": host,
                    "port": port,
                    "url": self.stats_url,
                    "mode": "dev",
                    "app": self.options.spec.import_string,
                    "addresses": [self.url],
                    "argv": sys.argv[:8],
                    "started_at": time.time(),
                }
            )

    def _unregister_stats(self) -> None:
        if self.registry_path is not None:
            with contextlib.suppress(Exception):
                from barq.metrics.registry import unregister_server

                unregister_server(self.registry_path)
            self.registry_path = None

    # -- children ----------------------------------------------------------------

    def _spawn(self) -> Child:
        assert self.sock is not None
        status_r, status_w = os.pipe()
        control_r, control_w = os.pipe()
        fds = [self.sock.fileno(), status_w, control_r]
        argv = [
            sys.executable,
            "-m",
            "barq_cli.child",
            "--fd", str(self.sock.fileno()),
            "--status-fd", str(status_w),
            "--control-fd", str(control_r),
            "--parent-pid", str(os.getpid()),
            "--graceful-timeout", str(DRAIN_TIMEOUT - 0.5),
            *self.options.spec.to_argv(),
        ]  # fmt: skip
        if self.options.threads:
            argv += ["--threads", str(self.options.threads)]
        if not self.options.access_log:
            argv.append("--no-access-log")
        if self.options.limits:
            argv += ["--server-options", json.dumps(self.options.limits)]
        if self.stats_sock is not None:
            argv += ["--stats-fd", str(self.stats_sock.fileno())]
            fds.append(self.stats_sock.fileno())
        env = dict(os.environ, BARQ_DEV="1", PYTHONUNBUFFERED="1")
        try:
            proc = subprocess.Popen(
                argv,
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
                cwd=str(self.options.root),
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(status_w)
            os.close(control_r)
        os.set_blocking(status_r, False)
        child = Child(proc, status_r, control_w)
        self.children.append(child)
        self.selector.register(status_r, selectors.EVENT_READ, child)
        return child

    def _ensure_standby(self) -> None:
        if self.shutting_down or self.standby is not None:
            return
        if time.monotonic() < self.next_spawn_at:
            return
        self.standby = self._spawn()

    def _start_reload(self) -> None:
        if self.loading is not None or self.shutting_down:
            return
        if self.standby is None:
            self.next_spawn_at = 0.0
            self._ensure_standby()
        child = self.standby
        assert child is not None
        self.standby = None
        self.loading = child
        self.reload_wanted = False
        child.state = "loading"
        child.go_at = time.monotonic()
        child.send("go")

    def _on_message(self, child: Child, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "standby" and child.state == "starting":
            child.state = "standby"
        elif event == "ready" and child is self.loading:
            self._on_ready(child, message)

    def _on_ready(self, child: Child, message: dict[str, Any]) -> None:
        child.state = "serving"
        child.ready = message
        self.loading = None
        old, self.serving = self.serving, child
        if old is not None:
            self._retire(old)
        elapsed = (time.monotonic() - (self.reload_started_at or child.go_at)) * 1000
        self.reload_started_at = None
        if not self.banner_shown:
            self.banner_shown = True
            self._register_stats()
            self._print_banner(message)
        elif message.get("ok"):
            self.console.print(f"[green]✔ Reloaded[/] in {elapsed:.0f} ms")
        if not message.get("ok"):
            location = str(message.get("location") or "")
            shown_file = location.rpartition(":")[0] or location
            where = (
                f" ({location})"
                if location and os.path.basename(shown_file) not in str(message.get("error"))
                else ""
            )
            self.console.print(
                f"[bold red]✘ {escape(str(message.get('error')))}{escape(where)}[/] "
                "— serving the error page until the next save"
            )

    def _retire(self, child: Child) -> None:
        child.state = "stopping"
        child.stop_deadline = time.monotonic() + DRAIN_TIMEOUT
        child.send("stop")
        child.close_control()

    def _reap(self) -> None:
        now = time.monotonic()
        for child in list(self.children):
            if child.proc.poll() is None:
                if child.stop_deadline is not None and now > child.stop_deadline:
                    self.console.print(
                        f"[yellow]Process {child.pid} did not drain in {DRAIN_TIMEOUT:.0f}s; "
                        "killed it[/]"
                    )
                    child.kill()
                    child.stop_deadline = None
                continue
            self._forget(child)

    def _forget(self, child: Child) -> None:
        self._drain_status(child)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(child.status_fd)
        with contextlib.suppress(OSError):
            os.close(child.status_fd)
        child.close_control()
        self.children.remove(child)
        code = child.proc.returncode
        # The child's session may still hold processes the user's code started.
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        if self.shutting_down or child.state == "stopping":
            return
        if child is self.standby:
            self.standby = None
            self.console.print(
                f"[red]A standby process exited early (code {code}); retrying shortly[/]"
            )
            self.next_spawn_at = time.monotonic() + 1.0
        elif child is self.loading:
            self.loading = None
            self.console.print(
                f"[bold red]✘ The application process exited while loading (code {code}).[/] "
                "Fix the code and save to try again."
            )
            self.next_spawn_at = time.monotonic() + 0.5
        elif child is self.serving:
            self.serving = None
            lived = time.monotonic() - child.spawned_at
            self.console.print(f"[bold red]✘ The application process exited (code {code}).[/]")
            if lived > 2.0:
                self.console.print("Restarting it.")
                self.reload_wanted = True
            else:
                self.console.print("Save a file to restart it.")

    def _drain_status(self, child: Child) -> None:
        while True:
            try:
                data = os.read(child.status_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                return
            if not data:
                return
            child.buffer += data
            while b"\n" in child.buffer:
                line, child.buffer = child.buffer.split(b"\n", 1)
                with contextlib.suppress(ValueError):
                    self._on_message(child, json.loads(line))

    # -- events --------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _on_change(self, paths: set[str]) -> None:
        with self.changes_lock:
            self.pending_changes |= paths
        self._wake()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.shutting_down:  # second Ctrl+C: stop now
            for child in self.children:
                child.kill()
        self.shutting_down = True
        self._wake()

    def _take_changes(self) -> None:
        with self.changes_lock:
            paths, self.pending_changes = self.pending_changes, set()
        if not paths:
            return
        shown = sorted(self._display_path(p) for p in paths)
        listed = ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
        self.console.print(f"[cyan]↻[/] {escape(listed)} changed; reloading")
        self.reload_wanted = True
        if self.reload_started_at is None:
            self.reload_started_at = time.monotonic()

    def _display_path(self, path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.options.root.resolve()))
        except ValueError:
            return path

    # -- main loop -------------------------------------------------------------------

    def run(self) -> int:
        """Serve until Ctrl+C/SIGTERM; returns the exit code (0)."""
        if self.sock is None:
            self.bind()
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        roots = list(self.options.reload_dirs) or [self.options.root]
        watcher = Watcher(
            roots,
            ChangeFilter(roots, self.options.reload_includes, self.options.reload_excludes),
            self._on_change,
        )
        watcher.start()
        self.watch_roots = roots
        try:
            while not self.shutting_down:
                if self.reload_wanted and self.loading is None:
                    self._start_reload()
                self._ensure_standby()
                for key, _ in self.selector.select(timeout=0.2):
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            while os.read(self._wake_r, 4096):
                                pass
                    else:
                        self._drain_status(key.data)
                self._take_changes()
                while not watcher.errors.empty():
                    self.console.print(f"[yellow]{escape(watcher.errors.get())}[/]")
                self._reap()
        finally:
            watcher.stop()
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _shutdown(self) -> None:
        self.console.print("Shutting down")
        for child in self.children:
            child.send("stop")
            child.close_control()
            with contextlib.suppress(OSError):
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        for child in list(self.children):
            try:
                child.proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=1)
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(child.status_fd)
            with contextlib.suppress(OSError):
                os.close(child.status_fd)
        self.children.clear()
        self._unregister_stats()
        for sock in (self.sock, self.stats_sock):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.selector.close()

    # -- output -------------------------------------------------------------------------

    def _print_banner(self, ready: dict[str, Any]) -> None:
        from barq_cli.banner import dev_banner

        self.console.print(
            dev_banner(
                url=self.url,
                spec=self.options.spec,
                free_threaded=bool(ready.get("free_threaded")),
                gil=bool(ready.get("gil")),
                threads=ready.get("threads"),
                stats_url=self.stats_url,
                watching=[self._display_path(str(r)) or "." for r in self.watch_roots],
                includes=["*.py", *self.options.reload_includes],
                load_ms=ready.get("load_ms"),
                loaded=bool(ready.get("ok", True)),
                docs_path=ready.get("docs") if isinstance(ready.get("docs"), str) else None,
                gil_advice=ready.get("gil_advice")
                if isinstance(ready.get("gil_advice"), str)
                else None,
            )
        )
