"""Property tests for the request parser.

- Valid requests (generated) parse to exactly what was generated, and any split
  into pieces gives the same result as feeding the bytes whole.
- Random bytes and mutated valid requests (byte flips, insertions, deletions,
  truncations, random splits) never make anything but ProtocolError escape.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barq.http.messages import HTTPRequest
from barq.http.parser import Limits, ProtocolError, RequestParser

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIMITS = Limits(max_request_line=512, max_header_bytes=4096, max_headers=20, max_body_bytes=4096)

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@/"
# Host's reg-name characters (RFC 3986: unreserved and sub-delims).
REG_NAME = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;="
# Field-value characters: visible ASCII, obs-text, and inner spaces/tabs.
VCHAR = "".join(chr(c) for c in range(0x21, 0x7F)) + "".join(chr(c) for c in range(0x80, 0x100))

methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
paths = st.text(PCHAR, max_size=30).map(lambda s: "/" + s)
queries = st.one_of(st.none(), st.text(PCHAR + "?", max_size=20))
field_names = st.text(TCHAR, min_size=1, max_size=12).filter(
    lambda n: (
        n.lower() not in {"host", "content-length", "transfer-encoding", "connection", "expect"}
    )
)
field_values = st.builds(
    lambda first, middle: (first + middle).rstrip(" \t") if first else "",
    st.text(VCHAR, max_size=1),
    st.text(VCHAR + " \t", max_size=20),
)


@st.composite
def valid_requests(draw: Any) -> tuple[bytes, tuple[object, ...]]:
    """A valid request's bytes and what the parser must make of it."""
    method = draw(methods)
    path = draw(paths)
    query = draw(queries)
    target = path if query is None else f"{path}?{query}"
    version = draw(st.sampled_from(["1.1", "1.0"]))
    host = draw(st.text(REG_NAME, min_size=1, max_size=15))
    port = draw(st.one_of(st.none(), st.integers(0, 65535)))
    headers = [("host", host if port is None else f"{host}:{port}")]
    headers += draw(st.lists(st.tuples(field_names, field_values), max_size=8))
    headers = [(name, value) for name, value in headers]
    close = draw(st.booleans())
    if close:
        headers.append(("connection", "close" if version == "1.1" else "keep-alive"))
    body = draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked"] if version == "1.1" else ["length"]))
    trailers: list[tuple[str, str]] = []
    encoded_body = b""
    if framing == "length":
        if body or draw(st.booleans()):
            headers.append(("content-length", str(len(body))))
        else:
            body = b""
        encoded_body = body
    else:
        headers.append(("transfer-encoding", "chunked"))
        sizes = draw(st.lists(st.integers(1, 64), max_size=10))
        pos = 0
        for size in sizes:
            piece = body[pos : pos + size]
            if not piece:
                break
            ext = draw(st.sampled_from(["", ";a=b", ';q="x y"', "; flag"]))
            encoded_body += b"%x%s\r\n%s\r\n" % (len(piece), ext.encode(), piece)
            pos += len(piece)
        body = body[:pos]
        encoded_body += b"0\r\n"
        trailers = draw(st.lists(st.tuples(field_names, field_values), max_size=3))
        for name, value in trailers:
            encoded_body += f"{name}: {value}\r\n".encode("latin-1")
        encoded_body += b"\r\n"
    wire_headers = [(draw(st.sampled_from([n, n.upper(), n.title()])), v) for n, v in headers]
    head = f"{method} {target} HTTP/{version}\r\n" + "".join(
        f"{name}:{draw(st.sampled_from(['', ' ', '  ', chr(9)]))}{value}\r\n"
        for name, value in wire_headers
    )
    data = head.encode("latin-1") + b"\r\n" + encoded_body
    keep_alive = (not close) if version == "1.1" else close
    expected = (
        method,
        target,
        path,
        query or "",
        version,
        [(name.lower(), value) for name, value in headers],
        body,
        keep_alive,
        [(name.lower(), value) for name, value in trailers] or None,
    )
    return data, expected


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


def feed_pieces(pieces: list[bytes]) -> list[tuple[object, ...]]:
    parser = RequestParser(LIMITS)
    results = []
    for piece in pieces:
        parser.feed(piece)
        while (request := parser.next_request()) is not None:
            results.append(summary(request))
    return results


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def outcome(pieces: list[bytes]) -> tuple[str, object]:
    """('ok', summaries) or ('error', status); any other exception propagates."""
    try:
        return "ok", feed_pieces(pieces)
    except ProtocolError as exc:
        assert 400 <= exc.status <= 599
        assert isinstance(exc.message, str) and exc.message
        return "error", exc.status


@SETTINGS
@given(valid_requests(), st.lists(st.integers(min_value=0), max_size=12))
def test_valid_request_parses_exactly_and_split_independently(
    request: tuple[bytes, tuple[object, ...]], cuts: list[int]
) -> None:
    data, expected = request
    assert feed_pieces([data]) == [expected]
    assert feed_pieces(split_at(data, cuts)) == [expected]


@SETTINGS
@given(st.lists(valid_requests(), min_size=2, max_size=4), st.lists(st.integers(0), max_size=20))
def test_pipelined_valid_requests(
    requests: list[tuple[bytes, tuple[object, ...]]], cuts: list[int]
) -> None:
    # Every request but the last must keep the connection open to be pipelined;
    # the parser does not care, so all of them come out in order.
    data = b"".join(d for d, _ in requests)
    expected = [e for _, e in requests]
    assert feed_pieces([data]) == expected
    assert feed_pieces(split_at(data, cuts)) == expected
    assert feed_pieces([data[i : i + 1] for i in range(len(data))]) == expected


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(0), max_size=8))
def test_random_bytes_only_raise_protocol_error(data: bytes, cuts: list[int]) -> None:
    outcome(split_at(data, cuts))


@st.composite
def mutated_requests(draw: Any) -> bytes:
    data = bytearray(draw(valid_requests())[0])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "replace", "dup"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            interesting = st.sampled_from(
                [b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b":", b";", b"0", b"f", b"\xff"]
            )
            data[pos:pos] = draw(st.one_of(interesting, st.binary(min_size=1, max_size=8)))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[pos:]
        elif kind == "replace" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "dup" and data:
            end = pos + draw(st.integers(1, 40))
            data[pos:pos] = data[pos:end]
    return bytes(data)


@SETTINGS
@given(mutated_requests(), st.lists(st.integers(0), max_size=10))
def test_mutated_requests_only_raise_protocol_error(data: bytes, cuts: list[int]) -> None:
    whole = outcome([data])
    split = outcome(split_at(data, cuts))
    # Splitting never turns an accepted request into a different one.
    if whole[0] == "ok" and split[0] == "ok":
        assert whole == split


@SETTINGS
@given(mutated_requests())
def test_mutated_requests_bytewise_agree_with_whole(data: bytes) -> None:
    whole = outcome([data])
    bytewise = outcome([data[i : i + 1] for i in range(len(data))])
    if whole[0] == "ok" and bytewise[0] == "ok":
        assert whole == bytewise
