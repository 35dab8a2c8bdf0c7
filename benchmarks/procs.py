"""Starting, watching and stopping the servers under test.

Every server runs in its own session (so its process group holds the whole tree:
uvicorn and gunicorn workers included) and is stopped with SIGTERM to the group,
then SIGKILL after a grace period. :func:`stop_all` is registered with ``atexit``
and runs from the runner's ``finally``, so nothing outlives the runner, also on
Ctrl+C or an error.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "RssSampler",
    "ServerError",
    "ServerProcess",
    "free_port",
    "http_request",
    "stop_all",
    "tree_rss_bytes",
]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_RUNNING: set[ServerProcess] = set()
_RUNNING_LOCK = threading.Lock()


class ServerError(RuntimeError):
    """A server did not start, died, or answered wrongly."""


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def http_request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """One request on a fresh connection (HTTPS with ``tls``); returns (status, body)."""
    conn: http.client.HTTPConnection
    if tls is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --- process-tree memory ------------------------------------------------------------


def _tree_pids(root: int) -> list[int]:
    """``root`` and every live process whose process group or ancestry leads to it."""
    parents: dict[int, int] = {}
    members: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_bytes()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        pid = int(entry.name)
        ppid, pgid = int(fields[1]), int(fields[2])
        parents[pid] = ppid
        if pgid == root or pid == root:
            members.append(pid)
    tree = set(members)
    for pid in parents:
        seen = pid
        for _ in range(64):  # walk up the ancestry
            if seen in tree or seen <= 1:
                break
            seen = parents.get(seen, 0)
        if seen in tree and seen != pid:
            tree.add(pid)
    return sorted(tree)


def tree_rss_bytes(root: int) -> int:
    """Sum of the resident set sizes of ``root``'s whole process tree, in bytes."""
    return _rss_of(_tree_pids(root))


def _rss_of(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class RssSampler:
    """Samples a process tree's RSS every ``interval`` seconds on a thread; keeps the peak.

    The tree's member list is refreshed every ``refresh`` samples (reading every
    ``/proc/*/stat`` each time would cost more than the sampling itself).
    """

    def __init__(self, root: int, interval: float = 0.1, refresh: int = 10) -> None:
        self.root = root
        self.interval = interval
        self.refresh = refresh
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        pids: list[int] = []
        while not self._stop.is_set():
            if self.samples % self.refresh == 0:
                pids = _tree_pids(self.root)
            self.peak = max(self.peak, _rss_of(pids))
            self.samples += 1
            self._stop.wait(self.interval)

    @property
    def peak_mib(self) -> float:
        """The peak in MiB, rounded to 0.1."""
        return round(self.peak / 2**20, 1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- servers ------------------------------------------------------------------------


class ServerProcess:
    """One server under test, started in its own session on 127.0.0.1:``port``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        *,
        cwd: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.host = host
        self.cwd = cwd
        self.env = env
        #: the client context when the server speaks HTTPS (readiness checks use it)
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        # Lives as long as this object: log_tail() is read after the server stopped.
        self._log = tempfile.TemporaryFile(prefix="barq-bench-server-")  # noqa: SIM115

    @property
    def pid(self) -> int:
        """The process id (also the process-group id) of the server's root process."""
        assert self.proc is not None
        return self.proc.pid

    @property
    def base_url(self) -> str:
        """``http://host:port`` (``https://`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def alive(self) -> bool:
        """True while the root process runs."""
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, limit: int = 3000) -> str:
        """The end of what the server wrote to stdout/stderr."""
        self._log.seek(0)
        data = self._log.read().decode("utf-8", "replace")
        return data[-limit:]

    def start(self, ready_timeout: float = 60.0) -> None:
        """Start the server and wait until ``GET /health`` answers 200."""
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        deadline = time.monotonic() + ready_timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.proc.returncode
                self.stop()
                raise ServerError(
                    f"{self.name} exited with status {code} during start-up:\n{self.log_tail()}"
                )
            try:
                status, _ = http_request(
                    self.host, self.port, "GET", "/health", timeout=2.0, tls=self.tls
                )
                if status == 200:
                    return
                last_error = f"GET /health answered {status}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.1)
        self.stop()
        raise ServerError(
            f"{self.name} did not answer within {ready_timeout:.0f} s ({last_error}):\n"
            f"{self.log_tail()}"
        )

    def runtime(self) -> dict[str, Any]:
        """What the app's ``GET /runtime`` reports (interpreter, GIL state)."""
        status, body = http_request(self.host, self.port, "GET", "/runtime")
        if status != 200:
            raise ServerError(f"{self.name}: GET /runtime answered {status}")
        data: dict[str, Any] = json.loads(body)
        return data

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after ``grace`` s."""
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            # Workers may outlive their parent: clear the whole group either way.
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(self)

    def __repr__(self) -> str:
        return f"<ServerProcess {self.name} port={self.port} pid={getattr(self.proc, 'pid', None)}>"


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    """Stop every server this process started and has not stopped yet."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for server in running:
        server.stop(grace=3.0)


atexit.register(stop_all)
