"""Response serialisation: status line, framing headers, chunks, error responses."""

from __future__ import annotations

import email.utils
import re
import time

import pytest

from barq.http.serializer import (
    LAST_CHUNK,
    ResponseHeaderError,
    encode_chunk,
    error_response,
    http_date,
    reason_phrase,
    response_head,
)


def split_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    assert head.endswith(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        fields.append((name, value))
    return lines[0], fields


def names(fields: list[tuple[str, str]]) -> list[str]:
    return [name.lower() for name, _ in fields]


def test_reason_phrases() -> None:
    assert reason_phrase(200) == "OK"
    assert reason_phrase(404) == "Not Found"
    assert reason_phrase(413) == "Content Too Large"
    assert reason_phrase(422) == "Unprocessable Content"
    assert reason_phrase(431) == "Request Header Fields Too Large"
    assert reason_phrase(599) == ""


def test_head_with_content_length() -> None:
    head = response_head(
        200, [("Content-Type", "text/plain"), ("X-A", "1"), ("x-a", "2")], content_length=5
    )
    status, fields = split_head(head)
    assert status == "HTTP/1.1 200 OK"
    assert fields[:3] == [("Content-Type", "text/plain"), ("X-A", "1"), ("x-a", "2")]
    assert ("content-length", "5") in fields
    assert "transfer-encoding" not in names(fields)
    assert "connection" not in names(fields)
    assert names(fields).count("date") == 1
    assert ("server", "barq") in fields


def test_date_is_an_imf_fixdate_close_to_now() -> None:
    _, fields = split_head(response_head(204, [], content_length=None))
    date = dict(fields)["date"]
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", date)
    parsed = email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(parsed - time.time()) < 5
    assert (
        http_date() == date
        or abs(email.utils.parsedate_to_datetime(http_date()).timestamp() - parsed) <= 2
    )


def test_chunked_close_and_keep_alive_flags() -> None:
    _, fields = split_head(response_head(200, [], content_length=None, chunked=True))
    assert ("transfer-encoding", "chunked") in fields
    assert "content-length" not in names(fields)
    _, fields = split_head(response_head(200, [], content_length=0, close=True))
    assert ("connection", "close") in fields
    _, fields = split_head(response_head(200, [], content_length=0, keep_alive_header=True))
    assert ("connection", "keep-alive") in fields
    # close wins over keep-alive
    _, fields = split_head(
        response_head(200, [], content_length=0, close=True, keep_alive_header=True)
    )
    assert [v for n, v in fields if n == "connection"] == ["close"]


def test_application_framing_headers_are_replaced() -> None:
    app_headers = [
        ("Content-Length", "999"),
        ("Transfer-Encoding", "gzip"),
        ("Connection", "upgrade"),
        ("Date", "yesterday"),
        ("Server", "other"),
        ("X-Kept", "yes"),
    ]
    _, fields = split_head(response_head(200, app_headers, content_length=3))
    assert fields.count(("content-length", "3")) == 1
    assert "999" not in dict(fields).values()
    assert names(fields).count("transfer-encoding") == 0
    assert names(fields).count("connection") == 0
    assert dict(fields)["date"] != "yesterday"
    assert dict(fields)["server"] == "barq"
    assert ("X-Kept", "yes") in fields


def test_unknown_status_code_has_empty_reason() -> None:
    status, _ = split_head(response_head(599, [], content_length=0))
    assert status == "HTTP/1.1 599 "


@pytest.mark.parametrize("status", [0, 99, 1000, -200])
def test_invalid_status_code(status: int) -> None:
    with pytest.raises(ResponseHeaderError):
        response_head(status, [], content_length=0)


@pytest.mark.parametrize(
    "header",
    [
        ("X-Split", "a\r\nSet-Cookie: evil=1"),
        ("X-Split", "a\nb"),
        ("X-Split", "a\rb"),
        ("X-Nul", "a\0b"),
        ("X-Bad\r\nInjected", "1"),
        ("X Space", "1"),
        ("X:Colon", "1"),
        ("", "empty name"),
        ("X-Nul\0", "1"),
        ("X-Unicode", "snow ☃"),
        ("X-Ünicode", "1"),
    ],
)
def test_response_splitting_and_bad_headers_refused(header: tuple[str, str]) -> None:
    with pytest.raises(ResponseHeaderError):
        response_head(200, [("X-Ok", "1"), header], content_length=0)


def test_latin1_values_allowed() -> None:
    head = response_head(200, [("X-Latin", "café\t1")], content_length=0)
    assert b"X-Latin: caf\xe9\t1\r\n" in head


def test_response_header_error_is_a_value_error() -> None:
    assert issubclass(ResponseHeaderError, ValueError)


def test_encode_chunk() -> None:
    assert encode_chunk(b"") == b""
    assert encode_chunk(b"abc") == b"3\r\nabc\r\n"
    assert encode_chunk(b"x" * 4096) == b"1000\r\n" + b"x" * 4096 + b"\r\n"
    assert encode_chunk(b"\r\n") == b"2\r\n\r\n\r\n"
    assert LAST_CHUNK == b"0\r\n\r\n"


def test_error_response() -> None:
    data = error_response(431, "request header block too large")
    head, _, body = data.partition(b"\r\n\r\n")
    status, fields = split_head(head + b"\r\n\r\n")
    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    values = dict(fields)
    assert values["content-type"] == "text/plain; charset=utf-8"
    assert values["connection"] == "close"
    assert int(values["content-length"]) == len(body)
    assert body == b"431 Request Header Fields Too Large: request header block too large\n"


def test_error_response_keep_open() -> None:
    data = error_response(404, "not here", close=False)
    assert b"connection:" not in data.lower()


def test_error_response_non_ascii_message() -> None:
    data = error_response(400, "bad ☃")
    body = data.partition(b"\r\n\r\n")[2]
    assert body.decode("utf-8") == "400 Bad Request: bad ☃\n"
    assert f"content-length: {len(body)}".encode() in data
