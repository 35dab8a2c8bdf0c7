"""One measurement: a running contender, a scenario, a connection count.

:class:`ServerPool` starts contenders lazily and keeps them up across scenarios;
:func:`measure` checks the endpoint answers correctly, warms up, then runs wrk
while sampling the server tree's RSS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.contenders import REPO_ROOT, Contender
from benchmarks.procs import RssSampler, ServerError, ServerProcess, free_port, http_request
from benchmarks.scenarios import Scenario
from benchmarks.wrk import WrkError, run_wrk

__all__ = ["MeasureSettings", "Run", "ServerPool", "measure", "validate"]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how hard to drive wrk."""

    wrk: str
    duration: float
    warmup: float
    wrk_threads: int
    timeout_s: float = 5.0


@dataclass
class Run:
    """The outcome of one measurement (numbers, or the error that prevented them)."""

    scenario: str
    connections: int
    contender: str
    label: str
    parallelism: int
    result: dict[str, Any] | None = None
    peak_rss_mib: float | None = None
    error: str | None = None
    ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float | None:
        """Requests per second, when measured."""
        return None if self.result is None else float(self.result["requests_per_s"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scenario": self.scenario,
            "connections": self.connections,
            "contender": self.contender,
            "label": self.label,
            "parallelism": self.parallelism,
            "requests_per_s": self.rps,
            "ratio_vs_baseline": self.ratio,
            "peak_rss_mib": self.peak_rss_mib,
            "wrk": self.result,
            "error": self.error,
            **self.extra,
        }


class ServerPool:
    """Starts each contender once, on a free port, and stops them all on :meth:`close`."""

    def __init__(self, db_path: str | os.PathLike[str], log: Any = print) -> None:
        self.db_path = str(db_path)
        self.log = log
        self._servers: dict[Contender, ServerProcess] = {}
        self._failed: dict[Contender, str] = {}
        self.runtimes: dict[str, dict[str, Any]] = {}

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["BARQ_BENCH_DB"] = self.db_path
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        return env

    def get(self, contender: Contender) -> ServerProcess:
        """The running server for ``contender``; started (or restarted if it died) here.

        Raises :class:`ServerError` when it cannot start (and remembers that, so a
        broken contender is not retried for every scenario).
        """
        if contender in self._failed:
            raise ServerError(self._failed[contender])
        server = self._servers.get(contender)
        if server is not None and server.alive():
            return server
        if server is not None:
            self.log(f"[yellow]{contender.label} died; restarting it[/]\n{server.log_tail(800)}")
            server.stop()
        port = free_port(HOST)
        server = ServerProcess(
            contender.label, contender.argv(HOST, port), port, cwd=REPO_ROOT, env=self._env()
        )
        try:
            server.start()
            runtime = server.runtime()
        except (ServerError, OSError, ValueError) as exc:
            server.stop()
            self._failed[contender] = str(exc)
            raise ServerError(str(exc)) from exc
        self.runtimes[f"{contender.name}/{contender.parallelism}"] = runtime
        if contender.free_threaded and runtime.get("gil_enabled"):
            self.log(
                f"[bold red]warning:[/] {contender.label} runs with the GIL ENABLED "
                "(an imported extension turned it on); its numbers are not free-threaded ones"
            )
        self._servers[contender] = server
        return server

    def release(self, contender: Contender) -> None:
        """Stop ``contender``'s server if it runs."""
        server = self._servers.pop(contender, None)
        if server is not None:
            server.stop()

    def close(self) -> None:
        """Stop every server this pool started."""
        for contender in list(self._servers):
            self.release(contender)


def validate(server: ServerProcess, scenario: Scenario) -> None:
    """Raise :class:`ServerError` unless ``server`` answers ``scenario`` correctly."""
    status, body = http_request(
        server.host,
        server.port,
        scenario.method,
        scenario.path,
        body=scenario.body,
        headers=scenario.headers,
        timeout=30.0,
    )
    if status != scenario.expected_status:
        raise ServerError(
            f"{scenario.method} {scenario.path} answered {status}, expected "
            f"{scenario.expected_status}: {body[:200]!r}"
        )
    problem = scenario.check(body)
    if problem:
        raise ServerError(f"{scenario.method} {scenario.path}: wrong body: {problem[:300]}")


def measure(
    pool: ServerPool,
    contender: Contender,
    scenario: Scenario,
    connections: int,
    settings: MeasureSettings,
) -> Run:
    """Validate, warm up, and measure one (contender, scenario, connections) cell."""
    run = Run(scenario.name, connections, contender.name, contender.label, contender.parallelism)
    try:
        server = pool.get(contender)
        validate(server, scenario)
        url = server.base_url + scenario.path
        if settings.warmup > 0:
            run_wrk(
                settings.wrk,
                url,
                scenario,
                connections=connections,
                duration=settings.warmup,
                threads=settings.wrk_threads,
                timeout_s=settings.timeout_s,
            )
        with RssSampler(server.pid) as sampler:
            result = run_wrk(
                settings.wrk,
                url,
                scenario,
                connections=connections,
                duration=settings.duration,
                threads=settings.wrk_threads,
                timeout_s=settings.timeout_s,
            )
        run.result = result.to_dict()
        run.peak_rss_mib = sampler.peak_mib
        if result.non_2xx > result.requests // 100:
            # Throughput of error responses is not throughput: flag the cell.
            run.error = (
                f"{result.non_2xx} of {result.requests} responses had status >= 400 "
                "(the load script sends something this server rejects)"
            )
        if not server.alive():
            run.error = f"server died during the run:\n{server.log_tail(800)}"
    except (ServerError, WrkError, OSError) as exc:
        run.error = str(exc)
    return run


def temp_database(directory: str | os.PathLike[str]) -> Path:
    """Create the shared SQLite file in ``directory`` and return its path."""
    from benchmarks.apps.common import create_database

    path = Path(directory) / "bench.sqlite3"
    create_database(str(path))
    return path
