"""Examples shown on the metrics and architecture pages, exercised for real."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import pytest

from barq.server import Server, ServerConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"

#: Example files exercised in this module.
EXERCISED_HERE = {
    "metrics_stats_server.py",
    "metrics_hooks.py",
    "architecture_server.py",
    "websockets_chat.py",
}


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_metrics_stats_server_example(load, capsys: pytest.CaptureFixture[str]) -> None:
    module = load("metrics_stats_server")
    module.main(port=0, stats_port=0)
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("http://127.0.0.1:")


def test_metrics_hooks_example_forwards_timings(load) -> None:
    module = load("metrics_hooks")
    from barq import Barq

    app = Barq()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise RuntimeError("boom")
        return {"id": item_id}

    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=2,
                                      metrics=module.metrics))  # fmt: skip
    server.start()
    try:
        port = server.addresses[0][1]
        assert _get(port, "/items/3")[0] == 200
        assert _get(port, "/items/0")[0] == 500
    finally:
        server.stop()
    sent = module.statsd.sent
    timings = [line for line in sent if line.startswith("http.GET./items/{item_id}:")]
    assert len(timings) == 2 and all(line.endswith("|ms") for line in timings)
    assert "http.errors:1|c" in sent
    snapshot = module.metrics.snapshot()
    assert json.dumps(snapshot)  # plain data


def test_architecture_server_example(load) -> None:
    module = load("architecture_server")
    addresses = module.run_briefly()
    assert addresses[0][0] == "127.0.0.1" and addresses[0][1] > 0
    # And the bare application really serves requests through the server.
    server = Server(module.app, ServerConfig(host="127.0.0.1", port=0, threads=2))
    server.start()
    try:
        results: list[tuple[int, bytes]] = []
        port = server.addresses[0][1]
        threads = [
            threading.Thread(target=lambda: results.append(_get(port, "/x/y"))) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results == [(200, b"GET /x/y\n")] * 4
    finally:
        server.stop()


def test_websockets_chat_example(load) -> None:
    from barq import WebSocketDisconnect
    from barq.testing import TestClient, WebSocketDenialResponse

    chat = load("websockets_chat")
    client = TestClient(chat.app)
    with client.websocket_connect("/chat?name=ana") as ana:
        assert ana.receive_text() == "ana joined"
        with client.websocket_connect("/chat?name=bo") as bo:
            assert ana.receive_text() == "bo joined"
            assert bo.receive_text() == "bo joined"
            bo.send_text("hi")
            assert ana.receive_text() == "bo: hi"
            assert bo.receive_text() == "bo: hi"
        assert ana.receive_text() == "bo left"
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/chat?name=admin"),
    ):
        pass
    assert denied.value.status_code == 403
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/chat"):
        pass
    with client.websocket_connect("/shout") as ws:
        ws.send_text("quiet")
        assert ws.receive_text() == "QUIET"
