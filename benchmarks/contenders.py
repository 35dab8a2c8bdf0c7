"""The contenders: how to start each server, and with which interpreter.

Barq runs on the interpreter it is given (free-threaded and GIL); the comparators
run from the separate benchmark environment (``.venv-bench``), never from Barq's
runtime dependencies.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["BASELINE", "CONTENDER_NAMES", "Contender", "Interpreters", "build_contenders"]

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "uvicorn-1"
CONTENDER_NAMES = ("barq-ft", "barq-gil", "uvicorn-1", "uvicorn-n", "flask-gunicorn")

_PROBES = {
    "barq": "from barq import Barq; from barq.server import serve; import pydantic",
    "uvicorn": "import fastapi, uvicorn, uvloop, httptools",
    "gunicorn": "import flask, gunicorn, pydantic",
}
_FT_PROBE = (
    "import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var('Py_GIL_DISABLED') else 3)"
)


@dataclass(frozen=True)
class Interpreters:
    """Which interpreter runs which contender."""

    ft_python: str
    gil_python: str
    bench_python: str


@dataclass(frozen=True)
class Contender:
    """One server configuration under test.

    ``parallelism`` is Barq's thread count, uvicorn's worker count, or gunicorn's
    worker count (each with ``threads_per_worker`` threads).
    """

    name: str
    kind: str  # "barq" | "uvicorn" | "gunicorn"
    python: str
    parallelism: int
    threads_per_worker: int = 1
    free_threaded: bool = False

    @property
    def label(self) -> str:
        """Human-readable description for tables."""
        n = self.parallelism
        if self.kind == "barq":
            flavour = "free-threaded" if self.free_threaded else "GIL"
            return f"Barq ({flavour}, {n} thread{'s' * (n != 1)})"
        if self.kind == "uvicorn":
            return f"FastAPI + uvicorn ({n} worker{'s' * (n != 1)})"
        return f"Flask + gunicorn gthread ({n}×{self.threads_per_worker} threads)"

    @property
    def series(self) -> str:
        """Name of the scaling-curve series this contender belongs to."""
        if self.kind == "barq":
            return "barq-ft" if self.free_threaded else "barq-gil"
        return self.kind

    def with_parallelism(self, n: int) -> Contender:
        """A copy with ``n`` threads (Barq) or workers (uvicorn, gunicorn)."""
        return replace(self, parallelism=n)

    def argv(self, host: str, port: int) -> list[str]:
        """The command line that serves the benchmark app on ``host:port``."""
        if self.kind == "barq":
            return [
                self.python, "-m", "benchmarks.apps.barq_app",
                "--host", host, "--port", str(port), "--threads", str(self.parallelism),
            ]  # fmt: skip
        if self.kind == "uvicorn":
            return [
                self.python, "-m", "uvicorn", "benchmarks.apps.fastapi_app:app",
                "--host", host, "--port", str(port), "--workers", str(self.parallelism),
                "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
        return [
            self.python, "-m", "gunicorn", "--worker-class", "gthread",
            "--workers", str(self.parallelism), "--threads", str(self.threads_per_worker),
            "--bind", f"{host}:{port}", "--log-level", "warning",
            "benchmarks.apps.flask_app:app",
        ]  # fmt: skip

    def unavailable_reason(self) -> str | None:
        """Why this contender cannot run here (missing interpreter or packages), or None."""
        if not (os.path.exists(self.python) and os.access(self.python, os.X_OK)):
            return f"interpreter {self.python} not found"
        if self.kind == "barq" and self.free_threaded:
            rc = _probe(self.python, _FT_PROBE)
            if rc != 0:
                return f"{self.python} is not a free-threaded build"
        if _probe(self.python, _PROBES[self.kind]) != 0:
            needs = _PROBES[self.kind].replace("import ", "").replace("from ", "")
            return f"{self.python} cannot import what it needs ({needs})"
        return None


_probe_cache: dict[tuple[str, str], int] = {}


def _probe(python: str, code: str) -> int:
    key = (python, code)
    if key not in _probe_cache:
        try:
            proc = subprocess.run(
                [python, "-c", code],
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=120,
            )
            _probe_cache[key] = proc.returncode
        except (OSError, subprocess.TimeoutExpired):
            _probe_cache[key] = -1
    return _probe_cache[key]


def build_contenders(
    interpreters: Interpreters, *, cores: int, barq_threads: int, gunicorn_threads: int
) -> dict[str, Contender]:
    """Every known contender by name, configured for a machine with ``cores`` cores."""
    return {
        "barq-ft": Contender(
            "barq-ft", "barq", interpreters.ft_python, barq_threads, free_threaded=True
        ),
        "barq-gil": Contender("barq-gil", "barq", interpreters.gil_python, barq_threads),
        "uvicorn-1": Contender("uvicorn-1", "uvicorn", interpreters.bench_python, 1),
        "uvicorn-n": Contender("uvicorn-n", "uvicorn", interpreters.bench_python, cores),
        "flask-gunicorn": Contender(
            "flask-gunicorn",
            "gunicorn",
            interpreters.bench_python,
            cores,
            threads_per_worker=gunicorn_threads,
        ),
    }
