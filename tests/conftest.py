"""Shared fixtures: a real server on an ephemeral port and a raw-socket HTTP client.

``serve(app, **options)`` is a context manager that starts
``Server(app, ServerConfig(host="127.0.0.1", port=0, **options))`` and stops it on
exit. ``connect(server)`` opens a :class:`RawClient` to its first listener: send
exact bytes, read exact responses, check for a clean close. Both clean up after
the test even when it fails.
"""

from __future__ import annotations

import contextlib
import importlib
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from barq.http.messages import HTTPRequest, HTTPResponse
from barq.server import Server, ServerConfig

# -- opt-in slow tests ------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run @pytest.mark.slow tests"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# -- a raw HTTP/1.1 client ----------------------------------------------------------


@dataclass
class Reply:
    """One response as read from the wire (header names lower-cased)."""

    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)
    chunked: bool = False

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def header_list(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


class RawClient:
    """A blocking socket with a read buffer; every read has a timeout."""

    def __init__(self, sock: socket.socket, timeout: float = 5.0) -> None:
        self.sock = sock
        sock.settimeout(timeout)
        self._buf = bytearray()

    # sending
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(
        self,
        method: str = "GET",
        target: str = "/",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        *,
        version: str = "1.1",
        head: bool | None = None,
    ) -> Reply:
        """Send one request (adding Host and Content-Length) and read its response."""
        self.send(build_request(method, target, headers, body, version=version))
        return self.read_response(head=method == "HEAD" if head is None else head)

    # receiving
    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self._buf += data
        return True

    def read_line(self) -> bytes:
        """One line without its CRLF; raises EOFError if the peer closed first."""
        while True:
            idx = self._buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self._buf[:idx])
                del self._buf[: idx + 2]
                return line
            if not self._fill():
                raise EOFError(f"connection closed mid-line: {bytes(self._buf)!r}")

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed after {len(self._buf)} of {n} bytes")
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read_until_eof(self) -> bytes:
        """Everything until the server closes (a socket timeout fails the test)."""
        with contextlib.suppress(ConnectionResetError):
            while self._fill():
                pass
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def _read_fields(self) -> list[tuple[str, str]]:
        fields = []
        while True:
            line = self.read_line()
            if not line:
                return fields
            name, _, value = line.decode("latin-1").partition(":")
            fields.append((name.strip().lower(), value.strip()))

    def read_response(self, *, head: bool = False) -> Reply:
        """Read one response; ``head=True`` for a response to HEAD (no body)."""
        status_line = self.read_line().decode("latin-1")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        reply = Reply(int(code), reason, version, self._read_fields())
        if head or reply.status < 200 or reply.status in (204, 304):
            return reply
        if (reply.header("transfer-encoding") or "").lower() == "chunked":
            reply.chunked = True
            parts = []
            while True:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    break
                parts.append(self.read_exact(size))
                assert self.read_exact(2) == b"\r\n", "chunk not followed by CRLF"
            reply.trailers = self._read_fields()
            reply.body = b"".join(parts)
        elif reply.header("content-length") is not None:
            reply.body = self.read_exact(int(reply.header("content-length") or 0))
        else:
            reply.body = self.read_until_eof()
        return reply

    def expect_close(self) -> bytes:
        """Assert the server closes the connection; returns any bytes sent before."""
        return self.read_until_eof()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_request(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    *,
    version: str = "1.1",
) -> bytes:
    """Serialise a request, adding ``Host`` (HTTP/1.1) and ``Content-Length`` (body)."""
    headers = list(headers or [])
    names = {name.lower() for name, _ in headers}
    if version == "1.1" and "host" not in names:
        headers.insert(0, ("Host", "test"))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    lines = [f"{method} {target} HTTP/{version}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def open_socket(address: Any, timeout: float = 5.0) -> socket.socket:
    """Connect to a server address: ``(host, port)`` (IPv4/IPv6) or a Unix path."""
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    elif ":" in address[0]:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address if isinstance(address, str) else address[:2])
    except BaseException:
        sock.close()
        raise
    return sock


# -- applications --------------------------------------------------------------------


def echo_app(request: HTTPRequest) -> HTTPResponse:
    """Answers with a summary of the request: method, path, query, body."""
    text = f"{request.method} {request.path} {request.query} {request.http_version}\n"
    return HTTPResponse(200, [("content-type", "text/plain")], text.encode() + request.body)


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Callable[..., contextlib.AbstractContextManager[Server]]]:
    """``with serve(app, **config) as server:`` a started server on 127.0.0.1:0.

    Defaults: 4 threads, no signal handlers, 2 s graceful timeout. Servers still
    running when the test ends are stopped.
    """
    running: list[Server] = []

    @contextlib.contextmanager
    def _serve(app: Any = echo_app, **options: Any) -> Iterator[Server]:
        config: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "threads": 4,
            "install_signal_handlers": False,
            "graceful_timeout": 2.0,
        }
        config.update(options)
        server = Server(app, ServerConfig(**config))
        server.start()
        running.append(server)
        try:
            yield server
        finally:
            server.stop()

    yield _serve
    for server in running:
        server.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., RawClient]]:
    """``connect(server_or_address, timeout=5.0)`` → a :class:`RawClient`, closed after the test."""
    clients: list[RawClient] = []

    def _connect(target: Any, timeout: float = 5.0) -> RawClient:
        address = target.addresses[0] if isinstance(target, Server) else target
        client = RawClient(open_socket(address, timeout), timeout)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        client.close()


DOCS_EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], ModuleType]]:
    """Import a fresh copy of a docs example module (examples keep module-level state)."""
    monkeypatch.syspath_prepend(str(DOCS_EXAMPLES))
    loaded: list[str] = []

    def _load(name: str) -> ModuleType:
        sys.modules.pop(name, None)
        loaded.append(name)
        return importlib.import_module(name)

    yield _load
    for name in loaded:
        sys.modules.pop(name, None)
