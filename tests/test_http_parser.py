"""The sans-I/O request parser: bytes in, HTTPRequest or ProtocolError out.

Every case is fed twice: as one piece and one byte at a time, and must give the
same requests (or the same error status) both ways.
"""

from __future__ import annotations

import pytest

from barq.http.messages import HTTPRequest
from barq.http.parser import Limits, ProtocolError, RequestParser


def parse(data: bytes, mode: str, limits: Limits | None = None) -> list[HTTPRequest]:
    """All complete requests in ``data``, fed whole or byte by byte."""
    parser = RequestParser(limits or Limits())
    requests: list[HTTPRequest] = []
    pieces = [data] if mode == "whole" else [data[i : i + 1] for i in range(len(data))]
    for piece in pieces:
        parser.feed(piece)
        while (request := parser.next_request()) is not None:
            requests.append(request)
    return requests


def parse_one(data: bytes, mode: str, limits: Limits | None = None) -> HTTPRequest:
    requests = parse(data, mode, limits)
    assert len(requests) == 1, requests
    return requests[0]


def rejects(data: bytes, mode: str, limits: Limits | None = None) -> int:
    """The status of the ProtocolError that ``data`` must raise."""
    with pytest.raises(ProtocolError) as info:
        parse(data, mode, limits)
    assert info.value.message
    return info.value.status


@pytest.fixture(params=["whole", "bytewise"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def summary(request: HTTPRequest) -> tuple[object, ...]:
    return (
        request.method,
        request.target,
        request.path,
        request.query,
        request.http_version,
        request.headers,
        request.body,
        request.keep_alive,
        request.trailers,
    )


# -- the request line and head -----------------------------------------------------


def test_simple_get(mode: str) -> None:
    req = parse_one(b"GET /a%20b/c?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n", mode)
    assert req.method == "GET"
    assert req.target == "/a%20b/c?x=1&y=2"
    assert req.path == "/a%20b/c"
    assert req.query == "x=1&y=2"
    assert req.http_version == "1.1"
    assert req.headers == [("host", "example.com")]
    assert req.body == b""
    assert req.keep_alive is True
    assert req.trailers is None


def test_header_names_lowercased_values_trimmed_order_and_duplicates_kept(mode: str) -> None:
    req = parse_one(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A:  one \t\r\nx-a: two\r\nAccept:\r\n"
        b"X-Latin: caf\xe9\r\nX-Tab: a\tb\r\n\r\n",
        mode,
    )
    assert req.headers == [
        ("host", "h"),
        ("x-a", "one"),
        ("x-a", "two"),
        ("accept", ""),
        ("x-latin", "café"),
        ("x-tab", "a\tb"),
    ]
    assert req.header("X-A") == "one"
    assert req.header("missing", "d") == "d"


def test_client_and_server_addresses_copied_onto_requests() -> None:
    parser = RequestParser(client=("1.2.3.4", 5), server=("127.0.0.1", 80), scheme="https")
    parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    req = parser.next_request()
    assert req is not None
    assert (req.client, req.server, req.scheme) == (("1.2.3.4", 5), ("127.0.0.1", 80), "https")


def test_query_only_and_empty_query(mode: str) -> None:
    req = parse_one(b"GET /p? HTTP/1.1\r\nHost: h\r\n\r\n", mode)
    assert (req.path, req.query) == ("/p", "")


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_known_methods(mode: str, method: str) -> None:
    req = parse_one(f"{method} / HTTP/1.1\r\nHost: h\r\n\r\n".encode(), mode)
    assert req.method == method


def test_leading_empty_lines_ignored(mode: str) -> None:
    req = parse_one(b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", mode)
    assert req.path == "/"


def test_empty_lines_between_pipelined_requests_ignored(mode: str) -> None:
    data = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
    assert [r.path for r in parse(data, mode)] == ["/1", "/2"]


def test_absolute_form_target(mode: str) -> None:
    req = parse_one(b"GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", mode)
    assert req.target == "http://example.com:8080/a/b?q=1"
    assert (req.path, req.query) == ("/a/b", "q=1")


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        (b"HTTPS://example.com", "/", ""),
        (b"http://example.com?x=y", "/", "x=y"),
        (b"http://[::1]:80/p", "/p", ""),
    ],
)
def test_absolute_form_variants(mode: str, target: bytes, path: str, query: str) -> None:
    req = parse_one(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n", mode)
    assert (req.path, req.query) == (path, query)


def test_absolute_form_authority_wins_over_host(mode: str) -> None:
    """RFC 9112 §3.2.2: a server receiving an absolute-form target ignores Host."""
    req = parse_one(b"GET http://real.example:8080/a HTTP/1.1\r\nHost: other\r\n\r\n", mode)
    assert req.header("host") == "real.example:8080"
    assert [v for k, v in req.headers if k == "host"] == ["real.example:8080"]


def test_absolute_form_with_userinfo_is_refused(mode: str) -> None:
    """RFC 9110 §4.2.4: userinfo in an http(s) URI is treated as an error."""
    assert rejects(b"GET http://user@host/p HTTP/1.1\r\nHost: x\r\n\r\n", mode) == 400


def test_options_asterisk(mode: str) -> None:
    req = parse_one(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", mode)
    assert (req.method, req.target, req.path, req.query) == ("OPTIONS", "*", "*", "")


def test_http10_without_host(mode: str) -> None:
    req = parse_one(b"GET / HTTP/1.0\r\n\r\n", mode)
    assert req.http_version == "1.0"
    assert req.keep_alive is False


def test_http_1x_minor_versions_treated_as_11(mode: str) -> None:
    req = parse_one(b"GET / HTTP/1.9\r\nHost: h\r\n\r\n", mode)
    assert req.http_version == "1.1"


# -- keep-alive ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "connection", "keep"),
    [
        (b"1.1", None, True),
        (b"1.1", b"close", False),
        (b"1.1", b"Close", False),
        (b"1.1", b"keep-alive, close", False),
        (b"1.1", b"upgrade", True),
        (b"1.0", None, False),
        (b"1.0", b"keep-alive", True),
        (b"1.0", b"Keep-Alive", True),
        (b"1.0", b"close", False),
    ],
)
def test_keep_alive(mode: str, version: bytes, connection: bytes | None, keep: bool) -> None:
    head = b"GET / HTTP/" + version + b"\r\nHost: h\r\n"
    if connection is not None:
        head += b"Connection: " + connection + b"\r\n"
    assert parse_one(head + b"\r\n", mode).keep_alive is keep


def test_two_connection_headers_combine(mode: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: close\r\n\r\n"
    assert parse_one(data, mode).keep_alive is False


# -- pipelining ------------------------------------------------------------------------


def test_pipelined_requests_in_order(mode: str) -> None:
    data = (
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"GET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    requests = parse(data, mode)
    assert [(r.path, r.body) for r in requests] == [
        ("/1", b""),
        ("/2", b"hello"),
        ("/3", b"abc"),
        ("/4", b""),
    ]
    assert [r.keep_alive for r in requests] == [True, True, True, False]


def test_next_request_returns_none_until_complete() -> None:
    parser = RequestParser()
    assert parser.next_request() is None
    assert not parser.has_partial_request
    parser.feed(b"GET / HTTP/1.1\r\nHo")
    assert parser.next_request() is None
    assert parser.has_partial_request
    assert not parser.reading_body
    parser.feed(b"st: h\r\n\r\nGET /next")
    assert parser.next_request() is not None
    assert parser.next_request() is None
    assert parser.has_partial_request
    assert parser.buffered == len(b"GET /next")


def test_many_requests_on_one_parser_do_not_accumulate_buffer() -> None:
    parser = RequestParser()
    one = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    for _ in range(1000):
        parser.feed(one)
        request = parser.next_request()
        assert request is not None and request.body == b"abc"
        assert parser.buffered == 0
        assert not parser.has_partial_request


# -- bodies ----------------------------------------------------------------------------


def test_content_length_body(mode: str) -> None:
    req = parse_one(b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world", mode)
    assert req.body == b"hello world"


def test_content_length_zero(mode: str) -> None:
    req = parse_one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", mode)
    assert req.body == b""


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: 3\r\nContent-Length: 3\r\n",
        b"Content-Length: 3, 3\r\n",
        b"Content-Length: 003\r\n",
    ],
)
def test_equal_repeated_content_length_accepted(mode: str, headers: bytes) -> None:
    req = parse_one(b"POST / HTTP/1.1\r\nHost: h\r\n" + headers + b"\r\nabc", mode)
    assert req.body == b"abc"


def test_binary_body_kept_exactly(mode: str) -> None:
    body = bytes(range(256)) * 4
    data = b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\n\r\n" + body
    assert parse_one(data, mode).body == body


def test_body_that_looks_like_a_request_is_body(mode: str) -> None:
    body = b"GET /evil HTTP/1.1\r\nHost: h\r\n\r\n"
    data = f"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    requests = parse(data, mode)
    assert len(requests) == 1 and requests[0].body == body


def test_chunked_body(mode: str) -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n"
    )
    req = parse_one(data, mode)
    assert req.body == b"hello 0123456789"
    assert req.trailers is None


def test_chunked_with_extensions_and_trailers(mode: str) -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"4;name=value\r\nWiki\r\n"
        b'5 ; quoted="a \\"b\\" c";flag\r\npedia\r\n'
        b"00000E\r\n in\r\n\r\nchunks.\r\n"
        b"0;last\r\nChecksum: abc\r\nX-Trailer: 1\r\n\r\n"
    )
    req = parse_one(data, mode)
    assert req.body == b"Wikipedia in\r\n\r\nchunks."
    assert req.trailers == [("checksum", "abc"), ("x-trailer", "1")]


def test_chunked_then_pipelined(mode: str) -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nab\r\n0\r\nT: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    first, second = parse(data, mode)
    assert (first.body, first.trailers) == (b"ab", [("t", "1")])
    assert (second.path, second.trailers) == ("/next", None)


def test_reading_body_state() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
    assert parser.next_request() is None
    assert parser.reading_body and parser.has_partial_request
    parser.feed(b"cd")
    request = parser.next_request()
    assert request is not None and request.body == b"abcd"
    assert not parser.reading_body and not parser.has_partial_request


# -- Expect: 100-continue ----------------------------------------------------------------


def test_expect_100_continue_flow() -> None:
    parser = RequestParser()
    parser.feed(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n")
    assert parser.next_request() is None
    assert parser.wants_continue
    parser.continue_sent()
    assert not parser.wants_continue
    parser.feed(b"abc")
    request = parser.next_request()
    assert request is not None and request.body == b"abc"
    # The next request starts with a clean slate.
    parser.feed(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
    assert parser.next_request() is None
    assert parser.wants_continue


def test_expect_continue_not_wanted_when_body_already_sent() -> None:
    parser = RequestParser()
    parser.feed(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nab")
    assert parser.next_request() is None
    assert not parser.wants_continue


def test_expect_continue_without_body_or_in_http10() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n")
    assert parser.next_request() is not None
    parser.feed(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert parser.next_request() is None
    assert not parser.wants_continue


def test_unknown_expectation_is_417(mode: str) -> None:
    data = b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\nab"
    assert rejects(data, mode) == 417


# -- rejections --------------------------------------------------------------------------

H = b"Host: h\r\n"

REJECTIONS = [
    # request line
    ("http09", b"GET /\r\n\r\n", 400),
    ("no target", b"GET HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("double space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("trailing space", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400),
    ("tab separator", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lower-case protocol", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    ("version without minor", b"GET / HTTP/1\r\n" + H + b"\r\n", 400),
    ("garbage version", b"GET / HTTP/1.1x\r\n" + H + b"\r\n", 400),
    ("space in target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("control char in target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("non-ascii target", b"GET /caf\xe9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("fragment in target", b"GET /a#frag HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("relative target", b"GET a/b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("authority form", b"GET example.com:80 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("asterisk for GET", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bad absolute authority", b"GET http:///x HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("binary junk", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    ("version 2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("version 0.9", b"GET / HTTP/0.9\r\n" + H + b"\r\n", 505),
    ("version 3.0", b"GET / HTTP/3.0\r\n" + H + b"\r\n", 505),
    ("version 11.1", b"GET / HTTP/11.1\r\n" + H + b"\r\n", 505),
    ("unknown method", b"FOO / HTTP/1.1\r\n" + H + b"\r\n", 501),
    ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\n" + H + b"\r\n", 501),
    ("lower-case method", b"get / HTTP/1.1\r\n" + H + b"\r\n", 501),
    # Host
    ("missing host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("two equal hosts", b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    ("two hosts in 1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    # header syntax
    ("space before colon", b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    ("tab before colon", b"GET / HTTP/1.1\r\n" + H + b"X-A\t: 1\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n  continued\r\n\r\n", 400),
    ("obs-fold tab", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n\tcontinued\r\n\r\n", 400),
    ("leading whitespace line", b"GET / HTTP/1.1\r\n " + H + b"\r\n", 400),
    ("no colon", b"GET / HTTP/1.1\r\n" + H + b"NoColon\r\n\r\n", 400),
    ("empty name", b"GET / HTTP/1.1\r\n" + H + b": value\r\n\r\n", 400),
    ("bad name char", b"GET / HTTP/1.1\r\n" + H + b"X(a): 1\r\n\r\n", 400),
    ("non-ascii name", b"GET / HTTP/1.1\r\n" + H + b"X-\xe9: 1\r\n\r\n", 400),
    ("NUL in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("NUL in name", b"GET / HTTP/1.1\r\n" + H + b"X-\x00: b\r\n\r\n", 400),
    ("control char in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    ("escape in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: \x1b[31m\r\n\r\n", 400),
    ("DEL in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n", 400),
    ("bare CR in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400),
    ("bare LF in value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\nX-B: b\r\n\r\n", 400),
    ("bare LF line endings", b"GET / HTTP/1.1\nHost: h\n\n", 400),
    # framing
    (
        "content-length and chunked",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (
        "chunked and content-length",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        400,
    ),
    ("conflicting lengths", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3, 4\r\n\r\nabcd", 400),
    (
        "conflicting length headers",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    ("signed length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc", 400),
    ("negative length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("non-numeric length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n", 400),
    ("hex length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x3\r\n\r\nabc", 400),
    ("empty length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length:\r\n\r\n", 400),
    ("fractional length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3.0\r\n\r\nabc", 400),
    ("length with space", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1 2\r\n\r\n", 400),
    ("unicode digit length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: \xb2\r\n\r\n", 400),
    ("empty list length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3,\r\n\r\nabc", 400),
    ("chunked in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("empty coding", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: ,chunked\r\n\r\n", 400),
    # chunked coding errors
    *[
        (
            name,
            b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + chunks,
            400,
        )
        for name, chunks in [
            ("non-hex chunk size", b"zz\r\nab\r\n0\r\n\r\n"),
            ("empty chunk size", b"\r\nab\r\n0\r\n\r\n"),
            ("negative chunk size", b"-1\r\nab\r\n0\r\n\r\n"),
            ("signed chunk size", b"+2\r\nab\r\n0\r\n\r\n"),
            ("leading space chunk size", b" 2\r\nab\r\n0\r\n\r\n"),
            ("0x chunk size", b"0x2\r\nab\r\n0\r\n\r\n"),
            ("overflowing chunk size", b"1" + b"0" * 16 + b"\r\nab\r\n0\r\n\r\n"),
            ("huge chunk size", b"f" * 40 + b"\r\nab\r\n"),
            ("bad chunk extension", b"2;=x\r\nab\r\n0\r\n\r\n"),
            ("chunk data too long", b"2\r\nabc\r\n0\r\n\r\n"),
            ("chunk data not ended by CRLF", b"2\r\nabXY0\r\n\r\n"),
            ("chunk size line too long", b"2;" + b"a" * 5000 + b"\r\nab\r\n0\r\n\r\n"),
            ("bad trailer", b"0\r\nBad Trailer: x\r\n\r\n"),
            ("NUL in trailer", b"0\r\nT: a\x00\r\n\r\n"),
        ]
    ],
    # unsupported codings
    ("gzip only", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("unknown coding", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: foo\r\n\r\n", 501),
    (
        "chunked not final",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n",
        501,
    ),
    (
        "chunked not final over two headers",
        b"POST / HTTP/1.1\r\n"
        + H
        + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    ),
    (
        "gzip then chunked",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
]


@pytest.mark.parametrize(
    ("data", "status"), [(d, s) for _, d, s in REJECTIONS], ids=[n for n, _, _ in REJECTIONS]
)
def test_rejections(mode: str, data: bytes, status: int) -> None:
    assert rejects(data, mode) == status


SMALL = Limits(max_request_line=64, max_header_bytes=256, max_headers=5, max_body_bytes=100)


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("target too long", b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        ("target too long, unterminated", b"GET /" + b"a" * 100, 414),
        ("request line junk too long", b"A" * 100, 400),
        (
            "header block too large",
            b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"b" * 300 + b"\r\n\r\n",
            431,
        ),
        ("header block too large, unterminated", b"GET / HTTP/1.1\r\nX: " + b"b" * 300, 431),
        (
            "too many headers",
            b"GET / HTTP/1.1\r\nHost: h\r\n"
            + b"".join(b"X-%d: 1\r\n" % i for i in range(5))
            + b"\r\n",
            431,
        ),
        (
            "declared body too large",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n",
            413,
        ),
        (
            "chunked body too large",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"32\r\n" + b"a" * 50 + b"\r\n33\r\n",
            413,
        ),
        (
            "one chunk too large",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n",
            413,
        ),
        (
            "too many trailers",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + b"".join(b"T-%d: 1\r\n" % i for i in range(6))
            + b"\r\n",
            431,
        ),
        (
            "trailer section too large",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: "
            + b"t" * 300,
            431,
        ),
    ],
)
def test_limits(mode: str, name: str, data: bytes, status: int) -> None:
    assert rejects(data, mode, SMALL) == status


def test_limits_are_inclusive(mode: str) -> None:
    """Exactly at each limit is accepted."""
    target = b"/" + b"a" * (64 - len(b"GET  HTTP/1.1") - 1)
    line = b"GET " + target + b" HTTP/1.1"
    assert len(line) == 64
    headers = b"".join(b"X-%d: 1\r\n" % i for i in range(4))
    req = parse_one(line + b"\r\nHost: h\r\n" + headers + b"\r\n", mode, SMALL)
    assert len(req.headers) == 5
    body = b"b" * 100
    req = parse_one(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + body, mode, SMALL
    )
    assert req.body == body
    chunked = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n"
    req = parse_one(chunked + body + b"\r\n0\r\n\r\n", mode, SMALL)
    assert req.body == body


def test_declared_body_too_large_rejected_from_the_head_alone() -> None:
    parser = RequestParser(SMALL)
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n")
    with pytest.raises(ProtocolError) as info:
        parser.next_request()
    assert info.value.status == 413


def test_parser_is_dead_after_an_error() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\n\r\n")  # no Host
    with pytest.raises(ProtocolError):
        parser.next_request()
    with pytest.raises(ProtocolError):
        parser.next_request()
    with pytest.raises(ProtocolError):
        parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")


def test_error_after_valid_requests_keeps_the_valid_ones() -> None:
    parser = RequestParser()
    parser.feed(b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET /bad HTTP/1.1\r\n\r\n")
    first = parser.next_request()
    assert first is not None and first.path == "/ok"
    with pytest.raises(ProtocolError) as info:
        parser.next_request()
    assert info.value.status == 400


def test_protocol_error_repr_and_message() -> None:
    error = ProtocolError(414, "request target too long")
    assert error.status == 414
    assert str(error) == "request target too long"
    assert "414" in repr(error)


def test_large_body_across_many_feeds() -> None:
    parser = RequestParser()
    size = 3 * 65536 + 17
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % size)
    assert parser.next_request() is None
    sent = 0
    block = bytes(range(256)) * 16
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        parser.feed(piece)
        sent += len(piece)
        request = parser.next_request()
    assert request is not None
    assert len(request.body) == size
    assert request.body[:256] == bytes(range(256))


def test_large_chunked_body_with_small_chunks() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(5000):
        parser.feed(b"a\r\n%010d\r\n" % i)
        assert parser.next_request() is None
    parser.feed(b"0\r\n\r\n")
    request = parser.next_request()
    assert request is not None
    assert len(request.body) == 50000
    assert request.body.endswith(b"0000004999")


def test_each_rejection_is_a_named_error_type_with_its_status() -> None:
    from barq.http import errors

    cases = [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", errors.URITooLong),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", errors.HeaderFieldsTooLarge),
        (b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", errors.MethodNotImplemented),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", errors.VersionNotSupported),
        (b"GET / HTTP/1.1\r\n\r\n", errors.BadRequest),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999\r\n\r\n",
            errors.ContentTooLarge,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: tea\r\nContent-Length: 1\r\n\r\n",
            errors.ExpectationFailed,
        ),
    ]
    for data, kind in cases:
        parser = RequestParser()
        parser.feed(data)
        with pytest.raises(kind) as info:
            parser.next_request()
        assert info.value.status == kind.code
        assert isinstance(info.value, ProtocolError)


# -- smuggling-class leniency: only SP/HTAB is whitespace, Host is validated ---------


@pytest.mark.parametrize(
    "coding",
    [
        "\xa0chunked",
        "\x85chunked",
        "chunked\xa0",
        "\u3000chunked".encode("utf-8").decode("latin-1"),
    ],
)
def test_transfer_encoding_with_non_http_whitespace_is_not_chunked(mode: str, coding: str) -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
        + coding.encode("latin-1")
        + b"\r\n\r\n0\r\n\r\n"
    )
    assert rejects(data, mode) == 400


def test_expect_with_non_http_whitespace_is_not_100_continue(mode: str) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nExpect: \xa0100-continue\r\nContent-Length: 1\r\n\r\nx"
    assert rejects(data, mode) == 417


@pytest.mark.parametrize("line", [b"a \r\n", b"a\t\r\n", b"a;x \r\n", b" a\r\n"])
def test_chunk_size_line_with_stray_whitespace_is_refused(mode: str, line: bytes) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert rejects(head + line + b"0123456789\r\n0\r\n\r\n", mode) == 400


def test_chunk_extension_may_have_whitespace_before_its_semicolon(mode: str) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    req = parse_one(head + b"a ;name=v\r\n0123456789\r\n0\r\n\r\n", mode)
    assert req.body == b"0123456789"


@pytest.mark.parametrize(
    "host", [b"exa mple.com", b"a@b/c?d", b"host/path", b"[::1", b"h:80:90", b"h?q", b"a\xa0b"]
)
def test_invalid_host_is_refused(mode: str, host: bytes) -> None:
    assert rejects(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n", mode) == 400


@pytest.mark.parametrize(
    "host", [b"example.com", b"127.0.0.1:8000", b"[::1]:443", b"", b"xn--bcher-kva.example", b"h:"]
)
def test_valid_hosts_are_accepted(mode: str, host: bytes) -> None:
    req = parse_one(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n", mode)
    assert req.header("host") == host.decode()


def test_content_length_with_thousands_of_digits_is_413_not_an_exception(mode: str) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
    assert rejects(data, mode) == 413


def test_content_length_with_many_leading_zeros_is_its_value(mode: str) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + b"0" * 5000 + b"2\r\n\r\nhi"
    assert parse_one(data, mode).body == b"hi"


def test_memory_for_a_body_of_tiny_chunks_follows_the_body_size() -> None:
    """A chunked body of many two-byte chunks costs about its decoded size (no
    per-chunk objects kept)."""
    import tracemalloc

    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"2\r\nab\r\n" * 8192  # 56 KiB on the wire, 16 KiB of body
    tracemalloc.start()
    try:
        for _ in range(16):  # 256 KiB of body in 131,072 chunks
            parser.feed(piece)
            assert parser.next_request() is None
        parser.feed(b"0\r\n\r\n")
        request = parser.next_request()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert request is not None and len(request.body) == 256 * 1024
    # (one bytes object per chunk, as before, took 18 times the body's size)
    assert peak < 1024 * 1024, f"peak {peak / 2**20:.2f} MiB for a 256 KiB body"
