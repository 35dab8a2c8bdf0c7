"""``barq dev --https``: a development certificate made once and reused.

The certificate authority and the localhost certificate are made with the
openssl command into the user's cache folder (here a temporary
XDG_CACHE_HOME); a client that trusts the printed CA connects to ``localhost``
and ``127.0.0.1`` with Python's default (strict) verification.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

APP = (
    "from barq import Barq\napp = Barq()\n\n"
    "@app.get('/')\ndef root() -> dict:\n    return {'ok': 1}\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dev(tmp_path: Path, cache: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARQ_")}
    env.update(COLUMNS="100", NO_COLOR="1", XDG_CACHE_HOME=str(cache))
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("barq")), "dev", *args], cwd=tmp_path, env=env,
        text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _get(host: str, port: int, ca: Path) -> bytes | None:
    try:
        conn = http.client.HTTPSConnection(
            host, port, context=ssl.create_default_context(cafile=str(ca)), timeout=5
        )
        conn.request("GET", "/")
        body = conn.getresponse().read()
        conn.close()
        return body
    except (OSError, ssl.SSLError):
        return None


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    return output


def test_https_makes_a_trusted_localhost_certificate_once(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    cache = tmp_path / "cache"
    folder = cache / "barq" / "dev-tls"
    ca = folder / "ca.pem"
    first_cert = b""
    for run in range(2):
        port = _free_port()
        proc = _dev(tmp_path, cache, "--https", "--port", str(port))
        try:
            deadline = time.monotonic() + 40
            body = None
            while body is None and time.monotonic() < deadline:
                assert proc.poll() is None
                if ca.exists():
                    body = _get("localhost", port, ca)
                if body is None:
                    time.sleep(0.2)
            assert body == b'{"ok":1}'
            assert _get("127.0.0.1", port, ca) == b'{"ok":1}'
            time.sleep(0.5)
        finally:
            output = _stop(proc)
        if run == 0:
            first_cert = (folder / "cert.pem").read_bytes()
            assert f"curl --cacert {ca} https://localhost:PORT/" in output  # one line, whole
            assert (folder / "key.pem").stat().st_mode & 0o077 == 0
            assert folder.stat().st_mode & 0o077 == 0
        else:
            assert (folder / "cert.pem").read_bytes() == first_cert  # reused
            assert "HTTPS with the development certificate" in output
        assert f"https://127.0.0.1:{port}" in output


def test_https_and_a_certificate_of_ones_own_exclude_each_other(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP)
    proc = _dev(tmp_path, tmp_path / "cache", "--https", "--ssl-certfile", "mine.pem")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "either --https or --ssl-certfile" in output and "Traceback" not in output
