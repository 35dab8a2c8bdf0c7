"""WebSockets over real sockets: the handshake, messages, limits, closing, shutdown.

The client is wsproto's client side over a plain socket (a browser-like client
that frames, masks and answers pings); idle and hostile peers are raw sockets.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from barq import Barq, Depends, Header, Query, WebSocket, WebSocketDisconnect
from barq.server import Server

pytestmark = pytest.mark.timeout(120)


class WSClient:
    """A WebSocket client over a real socket (wsproto's client side)."""

    def __init__(
        self,
        address: tuple[str, int],
        path: str,
        *,
        subprotocols: list[str] | None = None,
        deflate: bool = False,
        early: list[str] | None = None,
        wrap: Callable[[socket.socket], socket.socket] | None = None,
        timeout: float = 5.0,
    ) -> None:
        sock = socket.create_connection(address, timeout=timeout)
        self.sock = wrap(sock) if wrap is not None else sock
        self.conn = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []
        extensions = [PerMessageDeflate()] if deflate else []
        data = self.conn.send(
            Request(
                host="localhost",
                target=path,
                subprotocols=subprotocols or [],
                extensions=extensions,
            )
        )
        for text in early or ():  # frames sent with the handshake, before the answer
            data += _client_frame(text)
        self.sock.sendall(data)
        self.handshake = self.next_event()

    @property
    def accepted(self) -> bool:
        return isinstance(self.handshake, AcceptConnection)

    def next_event(self) -> Event:
        while not self.pending:
            data = self.sock.recv(65536)
            self.conn.receive_data(data or None)
            self.pending.extend(self.conn.events())
        return self.pending.pop(0)

    def send(self, message: str | bytes) -> None:
        event = (
            TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
        )
        self.sock.sendall(self.conn.send(event))

    def receive(self) -> str | bytes:
        parts: list[Any] = []
        while True:
            event = self.next_event()
            if isinstance(event, Ping):
                self.sock.sendall(self.conn.send(event.response()))
                continue
            if isinstance(event, CloseConnection):
                raise AssertionError(f"closed: {event.code} {event.reason}")
            assert isinstance(event, TextMessage | BytesMessage), event
            parts.append(event.data)
            if event.message_finished:
                return "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)

    def expect_close(self) -> CloseConnection:
        while True:
            event = self.next_event()
            if isinstance(event, CloseConnection):
                return event

    def close(self, code: int = 1000) -> CloseConnection:
        self.sock.sendall(self.conn.send(CloseConnection(code=code)))
        return self.expect_close()

    def shutdown(self) -> None:
        self.sock.close()


def _client_frame(text: str) -> bytes:
    """One masked text frame, made by hand (for frames sent before the 101)."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def raw_handshake(address: tuple[str, int], path: str, **headers: str) -> bytes:
    """Send a hand-made handshake; return the HTTP answer's head and body."""
    fields = {
        "host": "localhost",
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": base64.b64encode(os.urandom(16)).decode(),
    }
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v)
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\n{head}\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def make_app(log: list[str] | None = None) -> Barq:
    app = Barq()
    events = log if log is not None else []

    @app.get("/http")
    def http_route() -> dict[str, bool]:
        return {"ok": True}

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    events.append(f"disconnect {message['code']}")
                    return
                if "text" in message:
                    await ws.send_text(message["text"])
                else:
                    await ws.send_bytes(message["bytes"])
        finally:
            events.append("echo ended")

    @app.websocket("/sync/{name}")
    def sync_echo(ws: WebSocket, name: str, times: int = Query(1)) -> None:
        ws.accept()
        for text in ws.iter_text():
            ws.send_text(f"{name}:{text * times}")

    @app.websocket("/proto")
    async def proto(ws: WebSocket, x_token: str = Header("none")) -> None:
        await ws.accept(subprotocol=ws.subprotocols[-1] if ws.subprotocols else None)
        await ws.send_json({"offered": ws.subprotocols, "token": x_token})
        await ws.close(4000, "bye")

    @app.websocket("/refuse")
    async def refuse(ws: WebSocket) -> None:
        await ws.close()

    def resource() -> Iterator[str]:
        events.append("resource opened")
        yield "r"
        events.append("resource closed")

    @app.websocket("/dep")
    def with_dependency(ws: WebSocket, res: str = Depends(resource)) -> None:
        ws.accept()
        ws.send_text(res)
        ws.receive_text()

    @app.websocket("/boom")
    async def boom(ws: WebSocket) -> None:
        await ws.accept()
        raise ValueError("boom")

    @app.websocket("/flood")
    async def flood(ws: WebSocket) -> None:
        await ws.accept()
        chunk = "x" * 65536
        try:
            while True:
                await ws.send_text(chunk)
        except WebSocketDisconnect as exc:
            events.append(f"flood ended {exc.code}")

    @app.websocket("/idle")
    async def idle(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            events.append(f"idle ended {exc.code}")

    return app


@pytest.fixture
def ws_server(serve: Any) -> Iterator[tuple[Server, list[str]]]:
    log: list[str] = []
    with serve(make_app(log), threads=2) as server:
        yield server, log


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# -- messages ---------------------------------------------------------------------------


def test_async_echo_text_and_binary_and_a_clean_close(ws_server: Any) -> None:
    server, log = ws_server
    client = WSClient(server.addresses[0], "/echo")
    assert client.accepted
    client.send("hello")
    assert client.receive() == "hello"
    client.send(b"\x00\xff" * 1000)
    assert client.receive() == b"\x00\xff" * 1000
    big = "é" * 300_000  # several frames' worth, both ways
    client.send(big)
    assert client.receive() == big
    closed = client.close(1000)
    assert closed.code == 1000
    wait_for(lambda: "echo ended" in log)
    assert "disconnect 1000" in log


def test_def_endpoint_with_path_and_query_parameters(ws_server: Any) -> None:
    server, _ = ws_server
    client = WSClient(server.addresses[0], "/sync/ana?times=2")
    assert client.accepted
    for i in range(50):
        client.send(f"m{i}")
        assert client.receive() == f"ana:m{i}m{i}"
    assert client.close().code == 1000


def test_frames_sent_with_the_handshake_are_not_lost(ws_server: Any) -> None:
    server, _ = ws_server
    client = WSClient(server.addresses[0], "/echo", early=["first", "second"])
    assert client.accepted
    assert client.receive() == "first"
    assert client.receive() == "second"


def test_subprotocol_header_parameter_and_close_code(ws_server: Any) -> None:
    server, _ = ws_server
    client = WSClient(server.addresses[0], "/proto", subprotocols=["chat.v1", "chat.v2"])
    assert isinstance(client.handshake, AcceptConnection)
    assert client.handshake.subprotocol == "chat.v2"
    assert client.receive() == '{"offered":["chat.v1","chat.v2"],"token":"none"}'
    closed = client.expect_close()
    assert (closed.code, closed.reason) == (4000, "bye")


def test_permessage_deflate_is_negotiated_and_round_trips(ws_server: Any) -> None:
    server, _ = ws_server
    client = WSClient(server.addresses[0], "/echo", deflate=True)
    assert isinstance(client.handshake, AcceptConnection)
    assert [e.name for e in client.handshake.extensions] == ["permessage-deflate"]
    text = "compressible " * 10_000
    client.send(text)
    assert client.receive() == text


def test_generator_dependency_is_torn_down_after_the_session(ws_server: Any) -> None:
    server, log = ws_server
    client = WSClient(server.addresses[0], "/dep")
    assert client.receive() == "r"
    assert "resource closed" not in log
    client.send("done")
    assert client.expect_close().code == 1000
    wait_for(lambda: "resource closed" in log)
    assert log.index("resource opened") < log.index("resource closed")


# -- refusals ---------------------------------------------------------------------------


def test_close_before_accept_answers_403(ws_server: Any) -> None:
    server, _ = ws_server
    client = WSClient(server.addresses[0], "/refuse")
    assert isinstance(client.handshake, RejectConnection)
    assert client.handshake.status_code == 403


def test_bad_handshakes_get_clear_http_errors(ws_server: Any) -> None:
    server, _ = ws_server
    address = server.addresses[0]
    answer = raw_handshake(address, "/echo", sec_websocket_version="8")
    assert answer.startswith(b"HTTP/1.1 426 ")
    assert b"sec-websocket-version: 13" in answer.lower()
    answer = raw_handshake(address, "/echo", sec_websocket_key="short")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Sec-WebSocket-Key" in answer
    answer = raw_handshake(address, "/sync/x?times=many")
    assert answer.startswith(b"HTTP/1.1 403 ") and b"int_parsing" in answer
    answer = raw_handshake(address, "/nowhere")
    assert answer.startswith(b"HTTP/1.1 404 ")
    # A plain GET (no upgrade) to a WebSocket route says how to use it.
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 426 ") and b"WebSocket" in data


def test_an_exception_after_accept_closes_with_1011(ws_server: Any) -> None:
    server, _ = ws_server
    client = WSClient(server.addresses[0], "/boom")
    assert client.accepted
    assert client.expect_close().code == 1011


def test_a_message_over_the_limit_closes_with_1009(serve: Any) -> None:
    with serve(make_app(), threads=2, ws_max_message_bytes=1000) as server:
        client = WSClient(server.addresses[0], "/echo")
        client.send("x" * 999)
        assert client.receive() == "x" * 999
        client.send("x" * 1001)
        assert client.expect_close().code == 1009


def test_max_websockets_refuses_with_503_and_frees_places(serve: Any) -> None:
    with serve(make_app(), threads=2, max_websockets=2) as server:
        address = server.addresses[0]
        first, second = WSClient(address, "/echo"), WSClient(address, "/echo")
        assert first.accepted and second.accepted
        third = WSClient(address, "/echo")
        assert isinstance(third.handshake, RejectConnection)
        assert third.handshake.status_code == 503
        assert server.gauges()["websockets_refused"] == 1
        first.close()
        wait_for(lambda: server.gauges()["websockets_open"] == 1)
        assert WSClient(address, "/echo").accepted


# -- idle and hostile peers ---------------------------------------------------------------


def test_hundreds_of_idle_websockets_hold_no_worker(ws_server: Any) -> None:
    server, _ = ws_server  # 2 worker threads
    address = server.addresses[0]
    clients = [WSClient(address, "/idle") for _ in range(300)]
    assert all(c.accepted for c in clients)
    assert server.gauges()["websockets_open"] == 300
    wait_for(lambda: server.gauges()["busy_workers"] == 0, timeout=2)
    started = time.monotonic()
    for _ in range(20):
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(b"GET /http HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert time.monotonic() - started < 5
    for c in clients[:50]:
        c.shutdown()  # gone without a close frame: 1006
    wait_for(lambda: server.gauges()["websockets_open"] == 250)


def test_a_client_that_never_reads_holds_no_thread_and_is_dropped(serve: Any) -> None:
    log: list[str] = []
    with serve(make_app(log), threads=2, write_timeout=1.0) as server:
        address = server.addresses[0]
        sock = socket.create_connection(address, timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn = WSConnection(ConnectionType.CLIENT)
        sock.sendall(conn.send(Request(host="x", target="/flood")))
        time.sleep(0.3)  # the server fills the socket and waits
        with socket.create_connection(address, timeout=5) as other:
            other.sendall(b"GET /http HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert other.recv(65536).startswith(b"HTTP/1.1 200 ")
        # (the worker that answered may still be finishing its bookkeeping)
        wait_for(lambda: server.gauges()["busy_workers"] == 0, timeout=2)
        wait_for(lambda: any(e.startswith("flood ended") for e in log), timeout=10)
        wait_for(lambda: server.gauges()["websockets_open"] == 0)
        sock.close()


def test_a_ping_flood_from_a_peer_that_never_reads_stays_bounded(serve: Any) -> None:
    with serve(make_app(), threads=2) as server:
        client = WSClient(server.addresses[0], "/idle")
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ping = client.conn.send(Ping(payload=b"p" * 100))
        client.sock.settimeout(1.0)
        deadline = time.monotonic() + 10
        with contextlib.suppress(TimeoutError):  # once the server stops reading
            while time.monotonic() < deadline:
                client.sock.sendall(ping * 1000)
        assert time.monotonic() < deadline, "the server read pings for 10 s"
        (ws,) = server.websockets._loops[0].sessions
        # Pongs queued for a peer that reads nothing: bounded, not what it sent.
        assert ws._out_size < 1024 * 1024, ws._out_size
        client.shutdown()


def test_a_peer_that_stops_answering_pings_is_closed(serve: Any) -> None:
    log: list[str] = []
    with serve(make_app(log), threads=2, ws_ping_interval=0.5, ws_ping_timeout=0.5) as server:
        address = server.addresses[0]
        silent = WSClient(address, "/idle")  # never reads: never answers the ping
        alive = WSClient(address, "/echo")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # answers pings (receive() does)
            alive.send("still here")
            assert alive.receive() == "still here"
            time.sleep(0.2)
        wait_for(lambda: "idle ended 1011" in log, timeout=5)
        assert server.gauges()["websockets_open"] == 1
        silent.shutdown()


# -- shutdown -----------------------------------------------------------------------------


def test_shutdown_sends_1001_to_every_open_websocket(serve: Any) -> None:
    log: list[str] = []
    with serve(make_app(log), threads=2) as server:
        address = server.addresses[0]
        clients = [WSClient(address, "/echo") for _ in range(5)] + [WSClient(address, "/sync/a")]
        clients[0].send("x")
        assert clients[0].receive() == "x"
        started = time.monotonic()
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        for client in clients:
            closed = client.expect_close()
            assert closed.code == 1001
            client.sock.sendall(client.conn.send(closed.response()))
        stopper.join(10)
        assert time.monotonic() - started < 5
    assert log.count("echo ended") == 5


# -- TLS -----------------------------------------------------------------------------------


def test_websockets_over_tls(serve: Any, tmp_path: Any) -> None:
    from tests.test_server_tls import _openssl_certs, _trustme_certs

    certs = _trustme_certs(tmp_path) or _openssl_certs(tmp_path)
    with serve(
        make_app(), threads=2, ssl_certfile=str(certs.cert), ssl_keyfile=str(certs.key)
    ) as server:
        context = ssl.create_default_context(cafile=str(certs.ca))

        def wrap(sock: socket.socket) -> socket.socket:
            return context.wrap_socket(sock, server_hostname="127.0.0.1")

        client = WSClient(server.addresses[0], "/echo", wrap=wrap)
        assert client.accepted
        for size in (10, 70_000, 300_000):
            client.send("t" * size)
            assert client.receive() == "t" * size
        assert client.close().code == 1000


def test_the_loop_thread_is_named_and_not_an_http_worker(ws_server: Any) -> None:
    server, _ = ws_server
    client = WSClient(server.addresses[0], "/echo")
    assert client.accepted
    names = {t.name for t in threading.enumerate()}
    assert "barq-websocket-0" in names
    assert inspect.iscoroutinefunction(make_app().routes[1].endpoint)


# -- metrics, barq stats -----------------------------------------------------------------


def test_metrics_prometheus_and_the_dashboard_count_websockets(serve: Any) -> None:
    import io

    from rich.console import Console

    from barq.metrics import Metrics
    from barq.metrics.prometheus import render as prometheus
    from barq_cli.dashboard import TargetState, render

    metrics = Metrics()
    with serve(make_app(), threads=2, metrics=metrics) as server:
        address = server.addresses[0]
        clients = [WSClient(address, "/echo") for _ in range(3)]
        for i, client in enumerate(clients):
            for _ in range(i + 1):
                client.send("m")
                assert client.receive() == "m"
        clients[0].close()
        wait_for(lambda: server.gauges()["websockets_open"] == 2)
        snapshot = metrics.snapshot()
    assert snapshot["server"]["websockets_open"] == 2
    (row,) = snapshot["websockets"]
    assert row == {"route": "/echo", "opened": 3, "open": 2, "messages_in": 6, "messages_out": 6}
    text = prometheus(snapshot)
    assert "barq_websockets_open 2" in text
    assert 'barq_websocket_messages_total{route="/echo",direction="in"} 6' in text
    state = TargetState("127.0.0.1:9100", interval=1.0)
    state.update(snapshot)
    for width in (60, 80):
        console = Console(record=True, width=width, color_system=None, file=io.StringIO())
        console.print(render([state], once=True))
        out = console.export_text()
        assert "websockets 2" in out
        assert re.search(r"/echo\s+2\s", out), out
        assert max(len(line.rstrip()) for line in out.splitlines()) <= width


# -- a browser -----------------------------------------------------------------------------

PAGE = """<!doctype html><html><body><p id="out">waiting</p><script>
const ws = new WebSocket(`ws://${location.host}/echo`);
const got = [];
ws.onopen = () => { ws.send("from chromium"); ws.send(new Uint8Array([1, 2, 3])); };
ws.onmessage = async (event) => {
  const data = event.data;
  got.push(typeof data === "string" ? data : (await data.arrayBuffer()).byteLength);
  if (got.length === 2) { ws.close(1000, "done"); }
};
ws.onclose = (event) => {
  const result =
    `echo=${got.join("|")} ext=${ws.extensions} close=${event.code} clean=${event.wasClean}`;
  document.getElementById("out").textContent = result;
  fetch("/report", {method: "POST", body: result});
};
</script>
<img src="/hold">
</body></html>"""


def test_chromium_talks_to_a_websocket_endpoint(serve: Any) -> None:
    import shutil
    import subprocess
    import tempfile

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from barq import HTMLResponse, Response
    from barq import Request as HTTPRequestObject  # wsproto's Request is imported above

    app = make_app()
    reports: list[str] = []
    reported = threading.Event()

    @app.get("/page", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.post("/report")
    def report(request: HTTPRequestObject) -> None:
        reports.append(request.body.decode())
        reported.set()

    @app.get("/hold")
    def hold() -> Response:
        # The page is loading (so Chromium does not dump it and exit) until the
        # WebSocket exchange has been reported.
        reported.wait(20)
        return Response(status_code=204)

    with serve(app, threads=4) as server, tempfile.TemporaryDirectory() as profile:
        host, port = server.addresses[0][:2]
        result = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--dump-dom", f"http://{host}:{port}/page"],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert reports == [
        "echo=from chromium|3 ext=permessage-deflate; client_max_window_bits=15 close=1000 "
        "clean=true"
    ], result.stdout[-2000:]
