"""Timeouts and connection limits, with tiny configured values."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from barq.http.messages import HTTPRequest, HTTPResponse

pytestmark = pytest.mark.timeout(30)


def ok(request: HTTPRequest) -> HTTPResponse:
    return HTTPResponse(200, [("content-type", "text/plain")], b"ok:" + request.path.encode())


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def test_header_timeout_gives_408_then_close(serve, connect) -> None:
    with serve(ok, header_timeout=0.3) as server:
        client = connect(server)
        client.send(b"GET / HTTP/1.1\r\nHost:")
        started = time.monotonic()
        reply = client.read_response()
        assert reply.status == 408
        assert reply.header("connection") == "close"
        assert client.expect_close() == b""
        assert 0.2 < time.monotonic() - started < 5


def test_header_timeout_is_not_extended_by_a_trickle(serve, connect) -> None:
    """A slowloris client sending one byte at a time still times out."""
    with serve(ok, header_timeout=0.5) as server:
        client = connect(server)
        started = time.monotonic()
        data = b"GET / HTTP/1.1\r\n" + b"X-Slow: " + b"a" * 1000
        raw = b""
        try:
            for byte in data:
                client.send(bytes([byte]))
                time.sleep(0.05)
                if time.monotonic() - started > 4:
                    break
        except OSError:
            pass  # the server closed while we were still sending
        raw = client.read_until_eof()
        assert raw.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 4


def test_body_stall_gives_408_then_close(serve, connect) -> None:
    with serve(ok, body_timeout=0.3) as server:
        client = connect(server)
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        raw = client.read_until_eof()
        assert raw.startswith(b"HTTP/1.1 408 ")


def test_chunked_body_stall_gives_408_then_close(serve, connect) -> None:
    with serve(ok, body_timeout=0.3) as server:
        client = connect(server)
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab")
        raw = client.read_until_eof()
        assert raw.startswith(b"HTTP/1.1 408 ")


def test_slow_but_steady_body_is_accepted(serve, connect) -> None:
    """The body timeout is per stall, not for the whole body."""
    with serve(ok, body_timeout=0.4) as server:
        client = connect(server)
        client.send(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n")
        for byte in b"abcdef":
            time.sleep(0.15)
            client.send(bytes([byte]))
        assert client.read_response().body == b"ok:/slow"


def test_keep_alive_idle_connection_closed_silently(serve, connect) -> None:
    with serve(ok, keepalive_timeout=0.3) as server:
        client = connect(server)
        assert client.request().status == 200
        started = time.monotonic()
        assert client.expect_close() == b""  # no 408 for an idle connection
        assert 0.2 < time.monotonic() - started < 5


def test_silent_new_connection_closed_after_keepalive_timeout(serve, connect) -> None:
    with serve(ok, keepalive_timeout=0.3, header_timeout=30) as server:
        client = connect(server)
        assert client.expect_close() == b""


def test_slow_handler_is_not_timed_out(serve, connect) -> None:
    def slow(request: HTTPRequest) -> HTTPResponse:
        time.sleep(0.8)
        return HTTPResponse(200, [], b"done")

    with serve(slow, header_timeout=0.2, keepalive_timeout=0.2, body_timeout=0.2) as server:
        client = connect(server)
        assert client.request("POST", "/", body=b"x").body == b"done"


def test_slow_reader_is_dropped_and_worker_freed(serve, connect) -> None:
    closed = threading.Event()
    produced = 0

    class Endless:
        def __iter__(self):
            nonlocal produced
            chunk = b"x" * 65536
            for _ in range(20000):  # ~1.3 GB: never fits in socket buffers
                produced += 1
                yield chunk

        def close(self) -> None:
            closed.set()

    def app(request: HTTPRequest) -> HTTPResponse:
        if request.path == "/stream":
            return HTTPResponse(200, [], stream=Endless())
        return ok(request)

    with serve(app, threads=1, write_timeout=0.3) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(server.addresses[0])
        try:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
            # never read: the server's write must time out and give up
            assert closed.wait(10), "the stream was never closed"
            assert produced < 20000
            # the only worker is free again
            other = connect(server)
            assert other.request("GET", "/after").body == b"ok:/after"
        finally:
            sock.close()


def test_max_connections_evicts_the_longest_idle_connection(serve, connect) -> None:
    """At the cap a new client is served at once: the connection idle longest makes room."""
    with serve(ok, max_connections=2, keepalive_timeout=30) as server:
        first = connect(server)
        second = connect(server)
        assert first.request().status == 200
        time.sleep(0.05)
        assert second.request().status == 200
        third = connect(server)
        assert third.request("GET", "/third").body == b"ok:/third"
        assert first.expect_close() == b""  # idle longest: closed to make room
        assert second.request().status == 200
        assert server.gauges()["open_connections"] == 2


def test_max_connections_backlog_while_nothing_can_go(serve, connect) -> None:
    """Connections in the middle of a fresh request are not evicted: a new client waits
    in the listen backlog until one is old (and slow) enough to make room."""
    with serve(ok, max_connections=2, keepalive_timeout=30, header_timeout=30) as server:
        first = connect(server)
        second = connect(server)
        first.send(b"GET /first HTTP/1.1\r\nHost: t\r\n")  # heads not complete yet
        second.send(b"GET /second HTTP/1.1\r\nHost: t\r\n")
        assert wait_for(lambda: server.gauges()["open_connections"] == 2)
        started = time.monotonic()
        third = connect(server, timeout=0.5)  # the kernel completes the handshake
        third.send(b"GET /third HTTP/1.1\r\nHost: t\r\n\r\n")
        with pytest.raises(TimeoutError):
            third.read_response()  # not accepted: both others are young
        third.sock.settimeout(5)
        assert third.read_response().body == b"ok:/third"
        assert time.monotonic() - started < 3.0
        statuses = []
        for client in (first, second):
            try:
                client.send(b"\r\n")
                statuses.append(client.read_response().status)
            except (EOFError, OSError):
                statuses.append(None)
        assert 408 in statuses or None in statuses  # one of them made room
        third.close()


def test_timeouts_counted_in_gauges(serve, connect) -> None:
    with serve(ok, header_timeout=0.3) as server:
        client = connect(server)
        client.send(b"GET / HT")
        assert client.read_response().status == 408
        assert server.gauges()["timed_out"] == 1
