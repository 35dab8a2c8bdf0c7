"""StreamingResponse: chunked bodies, SSE example, disconnects stop the generator."""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from barq import Barq, StreamingResponse
from barq.testing import TestClient

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("streaming_sse", None)
    yield importlib.import_module("streaming_sse")
    sys.modules.pop("streaming_sse", None)


def test_example_text_stream_and_sse(example) -> None:
    client = TestClient(example.app)
    assert client.get("/count?to=3").text == "1\n2\n3\n"
    events = client.get("/events?ticks=2")
    assert events.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert events.headers["cache-control"] == "no-cache"
    assert events.text == (
        'event: tick\nid: 0\ndata: {"n": 0}\n\n'
        'event: tick\nid: 1\ndata: {"n": 1}\n\n'
        'event: done\ndata: {"total": 2}\n\n'
    )


def test_sse_over_a_real_socket_is_chunked(serve, connect, example) -> None:
    with serve(example.app) as server:
        reply = connect(server).request("GET", "/events?ticks=3")
    assert reply.status == 200 and reply.chunked
    assert reply.header("content-length") is None
    assert reply.body.count(b"event: tick") == 3 and reply.body.endswith(b"\n\n")


def test_status_headers_media_type_and_mixed_chunks(serve, connect) -> None:
    app = Barq()

    @app.get("/s")
    def s() -> StreamingResponse:
        return StreamingResponse(
            iter([b"a", "é", bytearray(b"c"), memoryview(b"d")]),
            status_code=201,
            headers={"x-kind": "stream"},
            media_type="application/octet-stream",
        )

    @app.get("/sized")
    def sized() -> StreamingResponse:
        return StreamingResponse([b"12", b"345"], headers={"content-length": "5"})

    with serve(app) as server:
        client = connect(server)
        reply = client.request("GET", "/s")
        assert (reply.status, reply.header("x-kind")) == (201, "stream")
        assert reply.header("content-type") == "application/octet-stream"
        assert reply.body == "aécd".encode()
        sized_reply = client.request("GET", "/sized")
        assert not sized_reply.chunked and sized_reply.body == b"12345"


def test_bad_chunk_type_cuts_the_connection(serve, connect) -> None:
    app = Barq()

    @app.get("/bad")
    def bad() -> StreamingResponse:
        return StreamingResponse(iter([b"ok", 42]))  # type: ignore[list-item]

    with serve(app) as server:
        client = connect(server)
        client.send(b"GET /bad HTTP/1.1\r\nHost: t\r\n\r\n")
        data = client.expect_close()
        assert data.startswith(b"HTTP/1.1 200") and b"0\r\n\r\n" not in data


def test_non_iterable_content_is_rejected() -> None:
    with pytest.raises(TypeError, match="iterable"):
        StreamingResponse(42)  # type: ignore[arg-type]


def test_client_disconnect_stops_generator_and_frees_the_worker(serve, connect) -> None:
    app = Barq()
    started = threading.Event()
    finished = threading.Event()
    produced: list[int] = []

    @app.get("/forever")
    def forever() -> StreamingResponse:
        def gen() -> Iterator[bytes]:
            try:
                started.set()
                i = 0
                while True:
                    produced.append(i)
                    yield b"x" * 1024 + b"\n"
                    i += 1
                    time.sleep(0.01)
            finally:
                finished.set()

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    with serve(app, threads=1) as server:
        client = connect(server)
        client.send(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        assert client.read_line().startswith(b"HTTP/1.1 200")
        assert started.wait(5)
        client.close()
        assert finished.wait(10), "the generator's finally did not run after the disconnect"
        count = len(produced)
        time.sleep(0.1)
        assert len(produced) == count, "the generator kept running"
        # the only worker is free again
        assert connect(server).request("GET", "/ping").body == b'"pong"'


def test_head_does_not_run_the_generator(serve, connect) -> None:
    app = Barq()
    ran: list[str] = []

    @app.get("/g")
    def g() -> StreamingResponse:
        def gen() -> Iterator[bytes]:
            ran.append("body")
            yield b"data"

        return StreamingResponse(gen())

    with serve(app) as server:
        reply = connect(server).request("HEAD", "/g")
    assert reply.status == 200 and ran == []
