"""HTTP/1.1 over a real socket: connection management, bodies, framing, rejections."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from barq.http.messages import FileBody, HTTPRequest, HTTPResponse

pytestmark = pytest.mark.timeout(30)


def echo(request: HTTPRequest) -> HTTPResponse:
    """Echo of what the app saw, one fact per line."""
    lines = [
        f"method={request.method}",
        f"target={request.target}",
        f"path={request.path}",
        f"query={request.query}",
        f"version={request.http_version}",
        f"keep_alive={request.keep_alive}",
        f"trailers={request.trailers}",
        f"client={request.client is not None}",
    ]
    text = "\n".join(lines).encode() + b"\n\n"
    return HTTPResponse(200, [("content-type", "text/plain")], text + request.body)


def fact(body: bytes, key: str) -> str:
    for line in body.split(b"\n\n", 1)[0].decode().splitlines():
        name, _, value = line.partition("=")
        if name == key:
            return value
    raise KeyError(key)


def sent_body(body: bytes) -> bytes:
    return body.split(b"\n\n", 1)[1]


# -- connection management -------------------------------------------------------------


def test_keep_alive_by_default_in_http11(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        for i in range(3):
            reply = client.request("GET", f"/n{i}")
            assert reply.status == 200
            assert fact(reply.body, "path") == f"/n{i}"
            assert reply.header("connection") is None
        assert fact(reply.body, "keep_alive") == "True"


def test_connection_close_is_honoured(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        reply = client.request("GET", "/", [("Connection", "close")])
        assert reply.status == 200
        assert reply.header("connection") == "close"
        assert client.expect_close() == b""


def test_http10_closes_by_default(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        reply = client.request("GET", "/old", version="1.0")
        assert reply.status == 200
        assert reply.version == "HTTP/1.1"
        assert fact(reply.body, "version") == "1.0"
        assert reply.header("connection") == "close"
        assert client.expect_close() == b""


def test_http10_keep_alive_when_asked(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        for _ in range(2):
            reply = client.request("GET", "/", [("Connection", "keep-alive")], version="1.0")
            assert reply.status == 200
            assert reply.header("connection") == "keep-alive"
            assert reply.header("content-length") is not None
        reply = client.request("GET", "/", version="1.0")
        assert reply.header("connection") == "close"
        assert client.expect_close() == b""


def test_pipelined_requests_answered_in_order(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        client.send(
            b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
            b"POST /3 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
            b"HEAD /4 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        replies = [client.read_response(head=(i == 3)) for i in range(5)]
        assert [r.status for r in replies] == [200] * 5
        assert [fact(r.body, "path") for r in replies if r.body] == ["/1", "/2", "/3", "/5"]
        assert sent_body(replies[1].body) == b"abc"
        assert sent_body(replies[2].body) == b"xy"
        assert replies[3].body == b"" and int(replies[3].header("content-length") or 0) > 0
        assert replies[4].header("connection") == "close"
        assert client.expect_close() == b""


def test_pipelined_requests_are_not_run_concurrently(serve, connect) -> None:
    active = 0
    overlap = []
    lock = threading.Lock()

    def app(request: HTTPRequest) -> HTTPResponse:
        nonlocal active
        with lock:
            active += 1
            overlap.append(active)
        threading.Event().wait(0.02)
        with lock:
            active -= 1
        return HTTPResponse(200, [], request.path.encode())

    with serve(app, threads=4) as server:
        client = connect(server)
        client.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(8)))
        bodies = [client.read_response().body for _ in range(8)]
        assert bodies == [b"/%d" % i for i in range(8)]
        assert max(overlap) == 1


def test_leading_empty_lines_ignored(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        client.send(b"\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        assert fact(client.read_response().body, "path") == "/a"
        client.send(b"\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert fact(client.read_response().body, "path") == "/b"


def test_request_split_across_many_writes(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        data = b"POST /split?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        for i in range(len(data)):
            client.send(data[i : i + 1])
        reply = client.read_response()
        assert (fact(reply.body, "path"), fact(reply.body, "query")) == ("/split", "q=1")
        assert sent_body(reply.body) == b"hello"


# -- request bodies ----------------------------------------------------------------------


def test_content_length_body(serve, connect) -> None:
    body = bytes(range(256)) * 1000
    with serve(echo) as server:
        client = connect(server)
        reply = client.request("PUT", "/up", body=body)
        assert sent_body(reply.body) == body


def test_chunked_body_with_extensions_and_trailers(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        client.send(
            b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n"
            b'6;q="a b"\r\n world\r\n'
            b"0\r\nX-Checksum: 42\r\n\r\n"
        )
        reply = client.read_response()
        assert sent_body(reply.body) == b"hello world"
        assert fact(reply.body, "trailers") == "[('x-checksum', '42')]"
        # the connection is still usable
        assert client.request("GET", "/after").status == 200


def test_expect_100_continue(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        client.send(
            b"PUT /big HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        )
        interim = client.read_response()  # waits for the 100 before sending anything else
        assert interim.status == 100
        assert interim.headers == []
        client.send(b"12345")
        reply = client.read_response()
        assert reply.status == 200
        assert sent_body(reply.body) == b"12345"


def test_expect_100_continue_chunked(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        client.send(
            b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        assert client.read_response().status == 100
        client.send(b"3\r\nabc\r\n0\r\n\r\n")
        assert sent_body(client.read_response().body) == b"abc"


def test_no_100_continue_when_body_sent_with_head(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        client.send(
            b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
        )
        reply = client.read_response()
        assert reply.status == 200
        assert sent_body(reply.body) == b"ok"


def test_expect_continue_over_limit_gets_413_not_100(serve, connect) -> None:
    with serve(echo, max_body_bytes=10) as server:
        client = connect(server)
        client.send(
            b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"
        )
        reply = client.read_response()
        assert reply.status == 413
        assert client.expect_close() == b""


# -- methods and targets -------------------------------------------------------------------


def test_head_gets_headers_without_body(serve, connect) -> None:
    def app(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(200, [("content-type", "text/plain")], request.path.encode() * 100)

    with serve(app) as server:
        client = connect(server)
        get = client.request("GET", "/h")
        head = client.request("HEAD", "/h")
        assert head.status == 200
        assert head.header("content-length") == get.header("content-length") == "200"
        assert head.header("content-type") == "text/plain"
        # No body bytes followed: the next response starts right away.
        nxt = client.request("GET", "/next")
        assert nxt.status == 200 and nxt.body == b"/next" * 100


def test_head_of_streamed_response_has_no_body(serve, connect) -> None:
    closed = threading.Event()

    class Stream:
        def __iter__(self):
            yield b"never sent"

        def close(self) -> None:
            closed.set()

    with serve(lambda r: HTTPResponse(200, [], stream=Stream())) as server:
        client = connect(server)
        head = client.request("HEAD", "/")
        assert head.status == 200
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        rest = client.read_until_eof()
        assert rest.startswith(b"HTTP/1.1 200 ")
        assert b"never sent" in rest  # the GET got the body; the HEAD did not
        assert rest.count(b"never sent") == 1
        assert closed.wait(2)


def test_absolute_form_target(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        reply = client.request("GET", "http://example.com/abs/path?x=1")
        assert reply.status == 200
        assert fact(reply.body, "path") == "/abs/path"
        assert fact(reply.body, "query") == "x=1"
        assert fact(reply.body, "target") == "http://example.com/abs/path?x=1"


def test_options_asterisk_reaches_app(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        reply = client.request("OPTIONS", "*")
        assert reply.status == 200
        assert fact(reply.body, "path") == "*"
        assert fact(reply.body, "method") == "OPTIONS"


def test_request_carries_client_and_server_addresses(serve, connect) -> None:
    seen: list[HTTPRequest] = []

    def app(request: HTTPRequest) -> HTTPResponse:
        seen.append(request)
        return HTTPResponse(200)

    with serve(app) as server:
        client = connect(server)
        assert client.request().status == 200
        request = seen[0]
        assert request.client == client.sock.getsockname()[:2]
        assert request.server == server.addresses[0]
        assert request.scheme == "http"


# -- response framing --------------------------------------------------------------------


def test_response_has_content_length_date_and_server(serve, connect) -> None:
    with serve(lambda r: HTTPResponse(201, [("X-App", "1")], b"created")) as server:
        client = connect(server)
        reply = client.request()
        assert (reply.status, reply.reason) == (201, "Created")
        assert reply.header("content-length") == "7"
        assert reply.header("transfer-encoding") is None
        assert reply.header("server") == "barq"
        assert reply.header("date", "").endswith(" GMT")
        assert reply.header("x-app") == "1"
        assert reply.body == b"created"


def test_app_framing_headers_do_not_break_framing(serve, connect) -> None:
    headers = [("Content-Length", "1000"), ("Transfer-Encoding", "chunked"), ("Server", "x")]
    with serve(lambda r: HTTPResponse(200, headers, b"four")) as server:
        client = connect(server)
        reply = client.request()
        assert reply.header_list("content-length") == ["4"]
        assert reply.header("transfer-encoding") is None
        assert reply.header_list("server") == ["barq"]
        assert reply.body == b"four"
        assert client.request().body == b"four"


def test_streamed_response_is_chunked(serve, connect) -> None:
    closed = threading.Event()

    def stream():
        try:
            yield b"one,"
            yield b""  # empty pieces are skipped, never a premature last-chunk
            yield b"two,"
            yield b"three"
        finally:
            closed.set()

    with serve(lambda r: HTTPResponse(200, [("content-type", "text/plain")], stream=stream())) as s:
        client = connect(s)
        reply = client.request()
        assert reply.chunked
        assert reply.header("content-length") is None
        assert reply.body == b"one,two,three"
        assert closed.wait(2)
        assert client.request().body == b"one,two,three"  # still keep-alive


def test_streamed_response_with_declared_length_is_not_chunked(serve, connect) -> None:
    app = lambda r: HTTPResponse(200, [("Content-Length", "6")], stream=iter([b"abc", b"def"]))  # noqa: E731
    with serve(app) as server:
        client = connect(server)
        reply = client.request()
        assert not reply.chunked
        assert reply.header_list("content-length") == ["6"]
        assert reply.body == b"abcdef"


def test_streamed_response_to_http10_is_close_delimited(serve, connect) -> None:
    app = lambda r: HTTPResponse(200, [], stream=iter([b"abc", b"def"]))  # noqa: E731
    with serve(app) as server:
        client = connect(server)
        client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        raw = client.read_until_eof()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in head.lower()
        assert b"connection: close" in head.lower()
        assert body == b"abcdef"


def test_stream_that_fails_midway_cuts_the_connection(serve, connect, caplog) -> None:
    def stream():
        yield b"partial"
        raise RuntimeError("boom")

    def app(request: HTTPRequest) -> HTTPResponse:
        if request.path == "/fail":
            return HTTPResponse(200, [], stream=stream())
        return HTTPResponse(200, [], stream=iter([b"ok"]))

    with serve(app) as server:
        client = connect(server)
        with caplog.at_level(logging.ERROR, logger="barq.server"):
            client.send(b"GET /fail HTTP/1.1\r\nHost: t\r\n\r\n")
            raw = client.read_until_eof()
        assert b"partial" in raw
        assert not raw.endswith(b"0\r\n\r\n")  # no last-chunk: the client sees a broken body
        assert "boom" in caplog.text or "streamed response" in caplog.text
        assert connect(server).request().status == 200


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(serve, connect, status: int) -> None:
    with serve(lambda r: HTTPResponse(status, [], b"ignored")) as server:
        client = connect(server)
        reply = client.request()
        assert reply.status == status
        assert reply.header("content-length") is None
        assert reply.header("transfer-encoding") is None
        assert client.request().status == status  # no stray body bytes in between


@pytest.mark.parametrize(
    "header",
    [
        ("X-Evil", "a\r\nSet-Cookie: pwned=1"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\rb"),
        ("X-Evil", "a\0b"),
        ("X-Evil\r\nSet-Cookie", "pwned=1"),
        ("X-Evil\0", "1"),
    ],
)
def test_response_splitting_refused(serve, connect, caplog, header: tuple[str, str]) -> None:
    with serve(lambda r: HTTPResponse(200, [header], b"secret")) as server:
        client = connect(server)
        with caplog.at_level(logging.ERROR, logger="barq.server"):
            client.send(b"GET /split HTTP/1.1\r\nHost: t\r\n\r\n")
            raw = client.read_until_eof()
        assert raw.startswith(b"HTTP/1.1 500 ")
        assert b"pwned" not in raw and b"secret" not in raw
        assert b"connection: close" in raw.lower()
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors and "/split" in errors[0].getMessage()


def test_response_splitting_in_stream_headers_refused(serve, connect, caplog) -> None:
    closed = threading.Event()

    def stream():
        try:
            yield b"secret"
        finally:
            closed.set()

    gen = stream()
    with serve(lambda r: HTTPResponse(200, [("X", "a\r\nb: c")], stream=gen)) as server:
        client = connect(server)
        with caplog.at_level(logging.ERROR, logger="barq.server"):
            client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            raw = client.read_until_eof()
        assert raw.startswith(b"HTTP/1.1 500 ")
        assert b"secret" not in raw
        assert caplog.records


# -- rejections ------------------------------------------------------------------------

REJECTED = [
    ("malformed request line", b"GET /\r\n\r\n", 400),
    ("garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400),
    ("bad version", b"GET / HTTP/1.x\r\nHost: t\r\n\r\n", 400),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ("HTTP/0.9 version", b"GET / HTTP/0.9\r\nHost: t\r\n\r\n", 505),
    ("missing host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
    ("NUL in header", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400),
    ("control char in header", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x07b\r\n\r\n", 400),
    ("bare LF", b"GET / HTTP/1.1\nHost: t\n\n", 400),
    (
        "CL and TE",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
    ),
    ("conflicting CL", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 2\r\n\r\nab", 400),
    ("signed CL", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +2\r\n\r\nab", 400),
    ("negative CL", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -2\r\n\r\n", 400),
    ("non-numeric CL", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: two\r\n\r\n", 400),
    (
        "invalid chunk size",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        400,
    ),
    (
        "oversized chunk size",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 20 + b"\r\n",
        400,
    ),
    (
        "chunk data too long",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
        400,
    ),
    ("unknown coding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: br\r\n\r\n", 501),
    (
        "chunked not final",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        501,
    ),
    ("unknown method", b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501),
    ("target too long", b"GET /" + b"x" * 300 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (
        "header block too large",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"y" * 2000 + b"\r\n\r\n",
        431,
    ),
    (
        "too many headers",
        b"GET / HTTP/1.1\r\nHost: t\r\n"
        + b"".join(b"X-%d: v\r\n" % i for i in range(12))
        + b"\r\n",
        431,
    ),
    ("declared body too large", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413),
]


@pytest.mark.parametrize(
    ("data", "status"), [(d, s) for _, d, s in REJECTED], ids=[n for n, _, _ in REJECTED]
)
def test_rejected_with_status_then_clean_close(serve, connect, data: bytes, status: int) -> None:
    called = []

    def app(request: HTTPRequest) -> HTTPResponse:
        called.append(request)
        return HTTPResponse(200)

    limits = {
        "max_request_line": 256,
        "max_header_bytes": 1024,
        "max_headers": 10,
        "max_body_bytes": 1000,
    }
    with serve(app, **limits) as server:
        client = connect(server)
        client.send(data)
        reply = client.read_response()
        assert reply.status == status
        assert reply.header("connection") == "close"
        assert reply.header("content-type", "").startswith("text/plain")
        assert reply.body.startswith(str(status).encode())
        assert client.expect_close() == b""
        assert called == []
        # the server is fine afterwards
        assert connect(server).request().status == 200


def test_valid_request_then_bad_one_answers_both(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        client.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\nGET /bad HTTP/1.1\r\n\r\n")
        assert client.read_response().status == 200
        assert client.read_response().status == 400
        assert client.expect_close() == b""


def test_declared_body_too_large_answered_without_reading_it(serve, connect) -> None:
    with serve(echo, max_body_bytes=1024) as server:
        client = connect(server)
        # Only the head is sent: the 413 must come at once, not after a body.
        client.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        reply = client.read_response()
        assert reply.status == 413
        assert reply.header("connection") == "close"
        assert client.expect_close() == b""


def test_chunked_body_over_limit_is_413(serve, connect) -> None:
    with serve(echo, max_body_bytes=1024) as server:
        client = connect(server)
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        client.send((b"200\r\n" + b"z" * 512 + b"\r\n") * 2)
        client.send(b"1\r\n")
        reply = client.read_response()
        assert reply.status == 413
        assert client.expect_close() == b""


def test_limits_are_configurable(serve, connect) -> None:
    with serve(echo, max_request_line=8192, max_header_bytes=100_000, max_headers=200) as server:
        client = connect(server)
        headers = [(f"X-{i}", "v" * 100) for i in range(150)]
        assert client.request("GET", "/" + "p" * 7000, headers).status == 200


# -- application errors ---------------------------------------------------------------


def test_handler_exception_gives_500_and_server_keeps_serving(serve, connect, caplog) -> None:
    def app(request: HTTPRequest) -> HTTPResponse:
        if request.path == "/boom":
            raise ValueError("kaput")
        return HTTPResponse(200, [], b"fine")

    with serve(app) as server:
        client = connect(server)
        with caplog.at_level(logging.ERROR, logger="barq.server"):
            reply = client.request("GET", "/boom")
        assert reply.status == 500
        assert b"kaput" not in reply.body  # no internals leak to the client
        assert "kaput" in caplog.text
        # the same keep-alive connection and new ones keep working
        assert client.request("GET", "/").body == b"fine"
        for _ in range(3):
            assert connect(server).request("GET", "/boom").status == 500
        assert connect(server).request("GET", "/").body == b"fine"


def test_handler_returning_wrong_type_gives_500(serve, connect, caplog) -> None:
    with serve(lambda r: "not a response") as server:
        client = connect(server)
        with caplog.at_level(logging.ERROR, logger="barq.server"):
            assert client.request().status == 500
        assert "HTTPResponse" in caplog.text


def test_on_complete_runs_after_response(serve, connect) -> None:
    done = threading.Event()
    with serve(lambda r: HTTPResponse(200, [], b"x", on_complete=done.set)) as server:
        assert connect(server).request().status == 200
        assert done.wait(2)


def test_client_half_close_still_gets_its_response(serve, connect) -> None:
    with serve(echo) as server:
        client = connect(server)
        client.send(b"POST /half HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
        client.sock.shutdown(socket.SHUT_WR)
        reply = client.read_response()
        assert reply.status == 200 and sent_body(reply.body) == b"hi"
        assert client.expect_close() == b""


def test_large_response_body_to_a_slow_reader(serve, connect) -> None:
    payload = bytes(range(256)) * 40000  # ~10 MB
    with serve(lambda r: HTTPResponse(200, [], payload), write_timeout=2) as server:
        client = connect(server)
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)  # the server's socket buffer fills up meanwhile
        reply = client.read_response()
        assert reply.body == payload
        assert client.request().status == 200


def test_file_response(serve, connect, tmp_path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 1000)

    def app(request: HTTPRequest) -> HTTPResponse:
        if request.path == "/missing":
            return HTTPResponse(200, [], file=FileBody(tmp_path / "nope"))
        return HTTPResponse(
            200,
            [("content-type", "application/octet-stream")],
            file=FileBody(path, offset=5, count=20),
        )

    with serve(app) as server:
        client = connect(server)
        reply = client.request()
        assert reply.header("content-length") == "20"
        assert reply.body == b"56789012345678901234"
        head = client.request("HEAD", "/")
        assert head.header("content-length") == "20"
        assert client.request("GET", "/missing").status == 404
        assert client.request().body == b"56789012345678901234"
