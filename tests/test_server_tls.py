"""HTTPS: the server's TLS, checked with real TLS clients.

Certificates come from trustme (a test CA, on GIL builds where its cryptography
dependency installs) or, failing that, from the ``openssl`` command. Clients:
Python's ssl + http.client, curl --cacert, openssl s_client (ALPN), httpx. The
handshake runs on a worker only when the client's bytes arrive, so silent
clients cost nothing and are closed after ``handshake_timeout``.
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
from dataclasses import dataclass
from pathlib import Path

import pytest

from barq.http.messages import HTTPRequest, HTTPResponse

CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl")


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path  # client certificate and key in one PEM, signed by the same CA


def _trustme_certs(folder: Path) -> Certs | None:
    try:
        import trustme
    except ImportError:
        return None
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.org")
    certs = Certs(folder / "ca.pem", folder / "cert.pem", folder / "key.pem", folder / "client.pem")
    ca.cert_pem.write_to_path(str(certs.ca))
    server.private_key_pem.write_to_path(str(certs.key))
    certs.cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    client.private_key_and_cert_chain_pem.write_to_path(str(certs.client_cert))
    return certs


def _openssl_certs(folder: Path) -> Certs:
    def run(*args: str) -> None:
        subprocess.run([str(OPENSSL), *args], cwd=folder, check=True, capture_output=True)

    # The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) asks for.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Barq test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    (folder / "san.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=client")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
            "-out", f"{name}.pem")  # fmt: skip
    client = folder / "client-both.pem"
    client.write_bytes((folder / "client.key").read_bytes() + (folder / "client.pem").read_bytes())
    return Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key", client)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("tls")
    made = _trustme_certs(folder)
    if made is not None:
        return made
    if OPENSSL is None:
        pytest.skip("neither trustme nor the openssl command is available")
    return _openssl_certs(folder)


def _app(request: HTTPRequest) -> HTTPResponse:
    body = f"{request.scheme} {request.method} {request.target} {len(request.body)}".encode()
    return HTTPResponse(200, [("content-type", "text/plain")], body)


def _client_context(certs: Certs) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca))


def _tls_options(certs: Certs, **extra: object) -> dict[str, object]:
    return {"ssl_certfile": str(certs.cert), "ssl_keyfile": str(certs.key), **extra}


def test_https_with_keep_alive_and_the_https_scheme(serve, certs) -> None:
    with serve(_app, **_tls_options(certs)) as server:
        host, port = server.addresses[0][:2]
        assert server.urls == [f"https://{host}:{port}"]
        conn = http.client.HTTPSConnection(host, port, context=_client_context(certs), timeout=5)
        for i in range(3):  # one TLS connection, three requests
            conn.request("POST", f"/n/{i}", body=b"x" * i)
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == f"https POST /n/{i} {i}".encode()
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
        conn.close()


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_with_cacert(serve, certs) -> None:
    with serve(_app, **_tls_options(certs)) as server:
        port = server.addresses[0][1]
        result = subprocess.run(
            [str(CURL), "-sS", "--http1.1", "--cacert", str(certs.ca),
             f"https://127.0.0.1:{port}/a", f"https://127.0.0.1:{port}/b"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "https GET /a 0https GET /b 0"


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_openssl_s_client_negotiates_alpn_http11(serve, certs) -> None:
    with serve(_app, **_tls_options(certs)) as server:
        port = server.addresses[0][1]
        command = [str(OPENSSL), "s_client", "-connect", f"127.0.0.1:{port}",
                   "-alpn", "h2,http/1.1", "-CAfile", str(certs.ca)]  # fmt: skip
        summary = subprocess.run(command, input=b"", capture_output=True, timeout=30)
        exchange = subprocess.run(
            [*command, "-quiet"],
            input=b"GET /alpn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            capture_output=True, timeout=30,
        )  # fmt: skip
    out = summary.stdout.decode("utf-8", "replace")
    assert "ALPN protocol: http/1.1" in out, out[-2000:]  # h2 offered first, not chosen
    assert "Verify return code: 0 (ok)" in out
    assert exchange.stdout.startswith(b"HTTP/1.1 200")
    assert exchange.stdout.endswith(b"https GET /alpn 0")


def test_httpx_with_a_trustme_ca(serve, certs) -> None:
    httpx = pytest.importorskip("httpx")
    with serve(_app, **_tls_options(certs)) as server:
        port = server.addresses[0][1]
        with httpx.Client(verify=ssl.create_default_context(cafile=str(certs.ca))) as client:
            for _ in range(2):
                response = client.get(f"https://127.0.0.1:{port}/httpx")
                assert response.status_code == 200
                assert response.text == "https GET /httpx 0"
                assert response.http_version == "HTTP/1.1"


def test_plain_http_to_the_tls_port_gets_a_clean_close(serve, connect, certs) -> None:
    with serve(_app, **_tls_options(certs)) as server:
        client = connect(server)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        try:
            data = client.sock.recv(4096)
        except ConnectionResetError:
            data = b""
        assert data == b"" or not data.startswith(b"HTTP/")  # no hang, no plaintext answer
        assert time.monotonic() - started < 3


def test_silent_clients_cost_nothing_and_time_out(serve, certs) -> None:
    """500 clients open TCP and never start the handshake: a real client is
    served at once, and after handshake_timeout the silent ones are closed."""
    with serve(_app, threads=2, handshake_timeout=1.5, **_tls_options(certs)) as server:
        host, port = server.addresses[0][:2]
        silent = []
        try:
            for _ in range(500):
                s = socket.create_connection((host, port), timeout=5)
                silent.append(s)
            started = time.monotonic()
            conn = http.client.HTTPSConnection(
                host, port, context=_client_context(certs), timeout=5
            )
            conn.request("GET", "/busy")
            assert conn.getresponse().read() == b"https GET /busy 0"
            assert time.monotonic() - started < 2.0
            conn.close()
            time.sleep(1.5 + 0.6)  # the timeout, and a sweep
            closed = 0
            for s in silent:
                s.settimeout(2)
                try:
                    closed += s.recv(1) == b""
                except (ConnectionResetError, TimeoutError):
                    closed += 0
            assert closed == len(silent)
            assert server.reactor.timed_out >= len(silent)
        finally:
            for s in silent:
                s.close()


def test_a_big_file_over_tls_reaches_a_slow_reader(serve, tmp_path, certs) -> None:
    """sendfile would bypass TLS: file bodies are read and sent through it."""
    from barq.http.messages import FileBody

    payload = os.urandom(2 * 1024 * 1024 + 3)
    path = tmp_path / "big.bin"
    path.write_bytes(payload)

    def app(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(
            200, [("content-type", "application/octet-stream")], file=FileBody(str(path))
        )

    with serve(app, **_tls_options(certs)) as server:
        host, port = server.addresses[0][:2]
        conn = http.client.HTTPSConnection(host, port, context=_client_context(certs), timeout=10)
        conn.request("GET", "/big")
        response = conn.getresponse()
        time.sleep(0.3)  # nothing read for a while: the server waits for room
        assert response.read() == payload
        conn.close()


def test_client_certificates_when_required(serve, certs) -> None:
    options = _tls_options(certs, ssl_ca_certs=str(certs.ca), ssl_cert_reqs="required")
    with serve(_app, **options) as server:
        host, port = server.addresses[0][:2]
        anonymous = http.client.HTTPSConnection(
            host, port, context=_client_context(certs), timeout=5
        )
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            anonymous.request("GET", "/")
            anonymous.getresponse().read()
        context = _client_context(certs)
        context.load_cert_chain(str(certs.client_cert))
        known = http.client.HTTPSConnection(host, port, context=context, timeout=5)
        known.request("GET", "/mtls")
        assert known.getresponse().read() == b"https GET /mtls 0"
        known.close()


def test_bad_tls_settings_fail_at_start_with_the_option_named(certs, tmp_path) -> None:
    from barq.server import Server, ServerConfig

    with pytest.raises(ValueError, match=r"ssl_certfile .*nope\.pem.*: no such file"):
        Server(_app, ServerConfig(ssl_certfile=str(tmp_path / "nope.pem")))
    with pytest.raises(ValueError, match="cannot load the certificate"):
        Server(_app, ServerConfig(ssl_certfile=str(certs.ca)))  # a certificate without its key
    with pytest.raises(ValueError, match="ssl_keyfile needs ssl_certfile"):
        ServerConfig(ssl_keyfile=str(certs.key)).validate()
    with pytest.raises(ValueError, match="ssl_cert_reqs needs ssl_ca_certs"):
        ServerConfig(ssl_certfile=str(certs.cert), ssl_cert_reqs="required").validate()


def _barq(*args: str, cwd: Path, timeout: float = 60) -> subprocess.Popen[str]:
    cli = Path(sys.executable).with_name("barq")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARQ_")}
    env.update(COLUMNS="200", NO_COLOR="1")
    return subprocess.Popen(
        [str(cli), *args], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["run", "dev"])
def test_barq_run_and_dev_serve_https_from_the_command_line(tmp_path, certs, command) -> None:
    (tmp_path / "main.py").write_text(
        "from barq import Barq, Request\napp = Barq()\n\n"
        "@app.get('/')\ndef root(request: Request) -> dict:\n"
        "    return {'scheme': request.url.scheme}\n"
    )
    port = _free_port()
    proc = _barq(command, "--port", str(port), "--ssl-certfile", str(certs.cert),
                 "--ssl-keyfile", str(certs.key), cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and body is None:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                conn = http.client.HTTPSConnection(
                    "127.0.0.1", port, context=_client_context(certs), timeout=5
                )
                conn.request("GET", "/")
                body = conn.getresponse().read()
                conn.close()
            except OSError:
                time.sleep(0.2)
        assert body == b'{"scheme":"https"}'
        time.sleep(1.0)  # barq dev prints its banner once the child says it is ready
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert f"https://127.0.0.1:{port}" in output


def test_barq_run_names_a_bad_certificate_option_without_a_traceback(tmp_path) -> None:
    (tmp_path / "main.py").write_text("from barq import Barq\napp = Barq()\n")
    proc = _barq("run", "--port", "0", "--ssl-certfile", str(tmp_path / "missing.pem"),
                 cwd=tmp_path)  # fmt: skip
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "missing.pem" in output and "Traceback" not in output
