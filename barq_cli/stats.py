"""`barq stats`: a live dashboard of running Barq servers' stats endpoints.

With no TARGET it watches the local servers found in the registry (`barq dev`,
`barq run --stats ...`), reading it again on every refresh: servers that start
appear, servers that stop shrink to one line. Several live servers make a fleet
view. In a terminal it is a Rich Live dashboard (``q`` or Ctrl+C quits);
otherwise, or with ``--json``, it prints plain snapshots every interval;
``--once`` prints one and exits (after two polls, so that rates are real).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import typer
from rich.console import Console

from barq.metrics.client import FetchError, Target, discover_targets, fetch_snapshot, parse_target
from barq_cli.dashboard import TargetState, render
from barq_cli.helpformat import HelpCommand
from barq_cli.options import option

__all__ = ["register", "run_stats"]


PIPE_WIDTH = 120
"""Width of plain output when neither COLUMNS nor a terminal says otherwise: the
wide layout, so that nothing is left out."""
ONCE_GAP_S = 1.0
"""Longest wait between the two polls of ``--once``."""


class Watch:
    """The targets being watched and their states, in display order.

    Given targets are fixed. Discovered ones (no TARGET) are re-read from the
    registry by :meth:`refresh`: new servers are added, servers that left it
    are marked stopped and no longer polled.
    """

    def __init__(self, targets: Sequence[Target], interval: float, discover: bool) -> None:
        self.discover = discover
        self.interval = interval
        self.targets: list[Target] = []
        self.states: list[TargetState] = []
        for target in targets:
            self._add(target)

    def _add(self, target: Target) -> None:
        self.targets.append(target)
        self.states.append(
            TargetState(
                target.label,
                interval=self.interval,
                mode=target.mode,
                app=target.app,
                address=target.address,
            )
        )

    def refresh(self) -> None:
        """Re-read the registry (discovery mode only)."""
        if not self.discover:
            return
        found = discover_targets()
        keys = {(t.url, t.pid) for t in found}
        known = {(t.url, t.pid) for t in self.targets}
        now = time.time()
        for target, state in zip(self.targets, self.states, strict=True):
            if state.stopped_at is None and (target.url, target.pid) not in keys:
                state.stopped_at = now
        for target in found:
            if (target.url, target.pid) not in known:
                self._add(target)

    def polled(self) -> tuple[list[Target], list[TargetState]]:
        """The targets to poll now (not stopped) and their states."""
        pairs = zip(self.targets, self.states, strict=True)
        live = [(t, s) for t, s in pairs if s.stopped_at is None]
        return [t for t, _ in live], [s for _, s in live]

    def poll(self, timeout: float) -> None:
        """Refresh the target list, then fetch every live target's snapshot."""
        self.refresh()
        targets, states = self.polled()
        if targets:
            _poll(targets, states, timeout)


def _poll(targets: Sequence[Target], states: Sequence[TargetState], timeout: float) -> None:
    def one(target: Target) -> tuple[dict[str, Any] | None, str | None]:
        try:
            return fetch_snapshot(target, timeout=timeout), None
        except FetchError as exc:
            return None, str(exc)

    if len(targets) == 1:
        results = [one(targets[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
            results = list(pool.map(one, targets))
    for state, (snapshot, error) in zip(states, results, strict=True):
        state.update(snapshot, error)


def _json_document(targets: Sequence[Target], states: Sequence[TargetState]) -> dict[str, Any]:
    return {
        "time": time.time(),
        "targets": [
            {
                "target": state.label,
                "url": target.url,
                "mode": target.mode,
                "app": target.app,
                "address": target.address,
                "ok": state.live,
                "stopped": state.stopped_at is not None,
                "error": state.error,
                "requests_per_s": state.request_rate(),
                "error_rate": state.error_rate(),
                "snapshot": state.snapshot if state.live else None,
            }
            for target, state in zip(targets, states, strict=True)
        ],
    }


@contextlib.contextmanager
def _keys() -> Iterator[int | None]:
    """Put a terminal stdin in cbreak mode (keys without Enter); yield its fd.

    Windows has no termios, and its select takes no terminals: there the
    dashboard stops with Ctrl-C only (``q`` needs a POSIX terminal)."""
    if not sys.stdin.isatty() or sys.platform == "win32":
        yield None
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _wait_for_quit(fd: int | None, seconds: float) -> bool:
    """Sleep ``seconds``; True as soon as ``q`` is pressed."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if fd is None:
            time.sleep(remaining)
            return False
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            data = os.read(fd, 64)
            if not data or b"q" in data.lower():
                return True


def run_stats(
    target_texts: Sequence[str],
    interval: float = 1.0,
    once: bool = False,
    as_json: bool = False,
    console: Console | None = None,
) -> int:
    """The whole command; returns the exit status (0 ok, 1 unreachable, 2 usage)."""
    out = console or _console()
    err = Console(stderr=True)
    if interval <= 0 or interval != interval:
        err.print("[red]error:[/red] --interval must be a positive number of seconds")
        return 2
    targets: list[Target] = []
    discover = not target_texts
    for text in target_texts:
        try:
            targets.append(parse_target(text))
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            return 2
    if not targets:
        targets = discover_targets()
        if not targets:
            err.print(
                "No running Barq server with a stats endpoint was found.\n"
                "Start one with `barq dev` (stats on 127.0.0.1 by default) or "
                "`barq run --stats 127.0.0.1:9100`, or pass TARGET (HOST:PORT).",
                highlight=False,
            )
            return 1
    watch = Watch(targets, interval, discover)
    timeout = max(0.5, min(2.0, interval))

    if once:
        # Two polls, so that rates, utilisation and CPU % cover a real interval.
        watch.poll(timeout)
        if any(s.live for s in watch.states):
            time.sleep(min(interval, ONCE_GAP_S))
            watch.poll(timeout)
        if as_json:
            print(json.dumps(_json_document(watch.targets, watch.states)), flush=True)
        else:
            out.print(render(watch.states, once=True))
        failed = [s for s in watch.states if s.error and s.stopped_at is None]
        for state in failed:
            err.print(f"[yellow]{state.label}:[/yellow] {state.error}", highlight=False)
        return 1 if failed else 0

    try:
        if as_json or not out.is_terminal:
            while True:
                watch.poll(timeout)
                if as_json:
                    print(json.dumps(_json_document(watch.targets, watch.states)), flush=True)
                else:
                    out.rule(time.strftime("%H:%M:%S"))
                    out.print(render(watch.states))
                    sys.stdout.flush()
                time.sleep(interval)
        else:
            _live(out, watch, interval, timeout)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `barq stats | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return 0


def _console() -> Console:
    """stdout; when it is not a terminal, as wide as COLUMNS, else the terminal
    on stderr or stdin (``barq stats --once | less``), else :data:`PIPE_WIDTH`."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return console
    width = PIPE_WIDTH
    for stream in (sys.stderr, sys.stdin):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            if stream is not None and stream.isatty():
                width = os.get_terminal_size(stream.fileno()).columns
                break
    return Console(width=max(40, width))


def _live(out: Console, watch: Watch, interval: float, timeout: float) -> None:
    from rich.live import Live

    with _keys() as fd, Live(console=out, screen=True, auto_refresh=False) as live:
        while True:
            watch.poll(timeout)
            live.update(render(watch.states), refresh=True)
            if _wait_for_quit(fd, interval):
                return


def register(app: typer.Typer) -> None:
    """Add the `stats` command to the CLI."""

    @app.command("stats", cls=HelpCommand)
    def stats(
        targets: list[str] | None = typer.Argument(
            None,
            metavar="TARGET...",
            help="Stats endpoints (HOST:PORT, :PORT or http://HOST:PORT). "
            "Default: the local servers started with stats enabled.",
            show_default=False,
        ),
        interval: float = option(
            "--interval", "-i", default=1.0, metavar="SECONDS", shown="1", min=0.05,
            help="Seconds between refreshes.",
        ),
        once: bool = option("--once", default=False, help="Print one snapshot and exit."),
        as_json: bool = option("--json", default=False, help="Machine-readable JSON output."),
    ) -> None:  # fmt: skip
        """Live dashboard of running servers: threads, routes, latency, throughput.

        Keys: [bold]q[/bold] quits (Ctrl+C too). When stdout is not a terminal it
        prints plain snapshots every interval.
        """
        raise typer.Exit(run_stats(targets or [], interval, once, as_json))
