"""`barq stats`: a live dashboard of running Barq servers' stats endpoints.

With no TARGET it watches the local servers found in the registry (`barq dev`,
`barq run --stats ...`). Several targets make a fleet view. In a terminal it is a
Rich Live dashboard (``q`` or Ctrl+C quits); otherwise, or with ``--json``, it
prints plain snapshots every interval; ``--once`` prints one and exits.
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
                "ok": state.error is None and state.snapshot is not None,
                "error": state.error,
                "requests_per_s": state.request_rate(),
                "error_rate": state.error_rate(),
                "snapshot": state.snapshot if state.error is None else None,
            }
            for target, state in zip(targets, states, strict=True)
        ],
    }


@contextlib.contextmanager
def _keys() -> Iterator[int | None]:
    """Put a terminal stdin in cbreak mode (keys without Enter); yield its fd."""
    if not sys.stdin.isatty():
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
    out = console or Console()
    err = Console(stderr=True)
    if interval <= 0 or interval != interval:
        err.print("[red]error:[/red] --interval must be a positive number of seconds")
        return 2
    targets: list[Target] = []
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
    states = [TargetState(t.label, interval=interval) for t in targets]
    timeout = max(0.5, min(2.0, interval))

    if once:
        _poll(targets, states, timeout)
        if as_json:
            print(json.dumps(_json_document(targets, states)), flush=True)
        else:
            out.print(render(states))
        failed = [s for s in states if s.error]
        for state in failed:
            err.print(f"[yellow]{state.label}:[/yellow] {state.error}", highlight=False)
        return 1 if failed else 0

    try:
        if as_json or not out.is_terminal:
            while True:
                _poll(targets, states, timeout)
                if as_json:
                    print(json.dumps(_json_document(targets, states)), flush=True)
                else:
                    out.rule(time.strftime("%H:%M:%S"))
                    out.print(render(states))
                    sys.stdout.flush()
                time.sleep(interval)
        else:
            _live(out, targets, states, interval, timeout)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `barq stats | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return 0


def _live(
    out: Console,
    targets: Sequence[Target],
    states: Sequence[TargetState],
    interval: float,
    timeout: float,
) -> None:
    from rich.live import Live

    with _keys() as fd, Live(console=out, screen=True, auto_refresh=False) as live:
        while True:
            _poll(targets, states, timeout)
            live.update(render(states), refresh=True)
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
