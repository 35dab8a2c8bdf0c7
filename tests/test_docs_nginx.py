"""The deployment guide's nginx setup, for real.

nginx runs with ``docs/examples/nginx.conf`` (the file the guide shows; only its
ports and server name are replaced) in front of two ``barq run`` instances
started exactly as the guide says. The test checks load spreading, proxy
headers (trusted through nginx, ignored when forged by a direct untrusted peer),
and that ``barq stats --once`` shows both instances.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [
    pytest.mark.skipif(
        not os.access(NGINX, os.X_OK),
        reason="nginx is not installed (scripts/install-system-packages installs nginx-light)",
    ),
    pytest.mark.skipif(sys.platform != "linux", reason="Barq's server needs Linux"),
]

#: The direct peer the tests use when they play an untrusted client: a loopback
#: address other than 127.0.0.1, which is the only trusted proxy.
UNTRUSTED = "127.0.0.2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{out}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on port {port}")


def get(
    port: int, path: str, headers: dict[str, str] | None = None, source: str = "127.0.0.1"
) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def render_config(app_ports: tuple[int, int], listen: int) -> str:
    """docs/examples/nginx.conf with the test's ports (each replacement must apply)."""
    text = (EXAMPLES / "nginx.conf").read_text()
    for old, new in (
        ("server 127.0.0.1:8001;", f"server 127.0.0.1:{app_ports[0]};"),
        ("server 127.0.0.1:8002;", f"server 127.0.0.1:{app_ports[1]};"),
        ("listen 80;", f"listen 127.0.0.1:{listen};"),
    ):
        assert text.count(old) == 1, f"docs/examples/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_barq(
    processes: list[subprocess.Popen[str]], port: int, stats: int, *extra: str
) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", COLUMNS="200")
    env.pop("BARQ_APP", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "barq_cli", "run", "deploy_app:app", "--port", str(port),
         "--threads", "4", "--stats", f"127.0.0.1:{stats}", *extra],
        cwd=EXAMPLES, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    processes.append(proc)
    wait_for_port(port, proc, f"barq run on port {port}")
    return proc


def test_nginx_in_front_of_two_instances(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    app_ports = (free_port(), free_port())
    stats_ports = (free_port(), free_port())
    for port, stats in zip(app_ports, stats_ports, strict=True):
        start_barq(processes, port, stats, "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")

    listen = free_port()
    (tmp_path / "logs").mkdir()
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "barq.conf").write_text(render_config(app_ports, listen))
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {tmp_path / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp}\n    include conf.d/barq.conf;\n}}\n"
    )
    nginx = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
         "-g", f"daemon off; pid {tmp_path / 'nginx.pid'}; error_log stderr;"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    processes.append(nginx)
    wait_for_port(listen, nginx, "nginx")

    # Load spreading: round robin reaches both instances.
    pids = set()
    for _ in range(12):
        status, seen = get(listen, "/whoami", source=UNTRUSTED)
        assert status == 200
        pids.add(seen["pid"])
        # nginx replaces X-Forwarded-For with the real peer: the app sees the
        # client (127.0.0.2), not nginx (127.0.0.1).
        assert seen["client"] == UNTRUSTED
        assert seen["scheme"] == "http"
    assert pids == {proc.pid for proc in processes[:2]}

    # Forged headers sent to nginx are overwritten, not passed on.
    status, seen = get(
        listen,
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        source=UNTRUSTED,
    )
    assert (status, seen["client"], seen["scheme"]) == (200, UNTRUSTED, "http")
    # The Host header reaches the app through `proxy_set_header Host $host`.
    assert seen["host"] == "127.0.0.1"

    # Direct to an instance from an untrusted peer: forged headers change nothing.
    status, seen = get(
        app_ports[0],
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        source=UNTRUSTED,
    )
    assert (status, seen["client"], seen["scheme"]) == (200, UNTRUSTED, "http")

    # From the trusted proxy address the same headers are honoured (what nginx
    # relies on, and what a TLS-terminating proxy does with X-Forwarded-Proto).
    status, seen = get(
        app_ports[0],
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
    )
    assert (status, seen["client"], seen["scheme"]) == (200, "203.0.113.9", "https")

    # An instance started without --proxy-headers ignores them even from 127.0.0.1.
    plain_port, plain_stats = free_port(), free_port()
    start_barq(processes, plain_port, plain_stats)
    status, seen = get(
        plain_port,
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
    )
    assert (status, seen["client"], seen["scheme"]) == (200, "127.0.0.1", "http")

    # `barq stats --once` shows both instances (the fleet view) ...
    targets = [f"127.0.0.1:{port}" for port in stats_ports]
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200", PYTHONDONTWRITEBYTECODE="1")
    fleet = subprocess.run(
        [sys.executable, "-m", "barq_cli", "stats", "--once", *targets],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert fleet.returncode == 0, fleet.stdout + fleet.stderr
    for target in targets:
        assert target in fleet.stdout
    # ... and, as JSON, that each one served part of the traffic.
    as_json = subprocess.run(
        [sys.executable, "-m", "barq_cli", "stats", "--once", "--json", *targets],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert [t["target"] for t in document["targets"]] == targets
    for entry, proc in zip(document["targets"], processes[:2], strict=True):
        assert entry["ok"], entry["error"]
        assert entry["snapshot"]["process"]["pid"] == proc.pid
        assert entry["snapshot"]["totals"]["requests"] >= 3
