"""FileResponse: sendfile, metadata, conditional requests and ranges."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from barq import Barq, FileResponse
from barq.files import content_disposition, parse_range
from barq.testing import TestClient

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("files_app", None)
    yield importlib.import_module("files_app")
    sys.modules.pop("files_app", None)


@pytest.fixture
def file_app(tmp_path: Path) -> tuple[Barq, Path]:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    app = Barq()

    @app.get("/data")
    def data() -> FileResponse:
        return FileResponse(path)

    @app.get("/missing")
    def missing() -> FileResponse:
        return FileResponse(tmp_path / "nope.txt")

    @app.post("/data")
    def post_data() -> FileResponse:
        return FileResponse(path, media_type="application/x-custom")

    return app, path


def test_example_download_with_non_ascii_filename(example) -> None:
    client = TestClient(example.app)
    response = client.get("/reports/q1")
    assert response.status_code == 200
    assert response.content == (EXAMPLES / "public" / "reports" / "q1.csv").read_bytes()
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Bericht q1 _ _bersicht.csv"')
    assert "filename*=UTF-8''Bericht%20q1%20%E2%80%93%20%C3%9Cbersicht.csv" in disposition
    assert client.get("/reports/q3").status_code == 404


def test_metadata_over_real_socket(serve, connect, file_app) -> None:
    app, _path = file_app
    with serve(app) as server:
        client = connect(server)
        reply = client.request("GET", "/data")
        assert reply.status == 200 and reply.body == DATA
        assert reply.header("content-length") == str(len(DATA))
        assert reply.header("content-type") == "application/octet-stream"
        assert reply.header("accept-ranges") == "bytes"
        assert reply.header("last-modified") == formatdate(1_700_000_000, usegmt=True)
        assert reply.header("etag", "").startswith('"')
        head = client.request("HEAD", "/data")
        assert head.header("content-length") == str(len(DATA)) and head.body == b""
        assert client.request("GET", "/missing").status == 404


def test_conditional_requests_give_304(file_app) -> None:
    app, _ = file_app
    client = TestClient(app)
    etag = client.get("/data").headers["etag"]
    not_modified = client.get("/data", headers={"if-none-match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert client.get("/data", headers={"if-none-match": f'"other", W/{etag}'}).status_code == 304
    assert client.get("/data", headers={"if-none-match": '"other"'}).status_code == 200
    later = formatdate(1_700_000_100, usegmt=True)
    earlier = formatdate(1_699_000_000, usegmt=True)
    assert client.get("/data", headers={"if-modified-since": later}).status_code == 304
    assert client.get("/data", headers={"if-modified-since": earlier}).status_code == 200
    assert client.get("/data", headers={"if-modified-since": "garbage"}).status_code == 200
    # If-None-Match wins over If-Modified-Since
    both = {"if-none-match": '"other"', "if-modified-since": later}
    assert client.get("/data", headers=both).status_code == 200
    # only GET/HEAD are conditional
    assert client.post("/data", headers={"if-none-match": etag}).status_code == 200


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=10200-99999", 10200, 10239),
        ("bytes=5-5", 5, 5),
    ],
)
def test_single_ranges_give_206(serve, connect, file_app, header, start, end) -> None:
    app, _ = file_app
    with serve(app) as server:
        reply = connect(server).request("GET", "/data", [("Range", header)])
    assert reply.status == 206
    assert reply.body == DATA[start : end + 1]
    assert reply.header("content-range") == f"bytes {start}-{end}/{len(DATA)}"
    assert reply.header("content-length") == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable_ranges_give_416(file_app, header) -> None:
    app, _ = file_app
    response = TestClient(app).get("/data", headers={"range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "items=0-1", "bytes=5-2", "bytes=abc", "bytes=", "bytes=1-2-3"]
)
def test_multi_and_invalid_ranges_give_the_whole_file(file_app, header) -> None:
    app, _ = file_app
    response = TestClient(app).get("/data", headers={"range": header})
    assert response.status_code == 200 and response.content == DATA


def test_if_range(file_app) -> None:
    app, _ = file_app
    client = TestClient(app)
    etag = client.get("/data").headers["etag"]
    fresh = client.get("/data", headers={"range": "bytes=0-9", "if-range": etag})
    assert fresh.status_code == 206 and fresh.content == DATA[:10]
    stale = client.get("/data", headers={"range": "bytes=0-9", "if-range": '"old"'})
    assert stale.status_code == 200 and stale.content == DATA


def test_helpers() -> None:
    assert content_disposition("a b.txt") == 'attachment; filename="a b.txt"'
    assert content_disposition('q"\\.txt', "inline") == 'inline; filename="q\\"\\\\.txt"'
    assert parse_range("bytes=0-0", 0) is False
    assert parse_range("bytes=0-4", 3) == (0, 2)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=\xb2-", 200),  # a Unicode digit is not a digit here: header ignored
        ("bytes=" + "\u0663".encode().decode("latin-1") + "-5", 200),  # UTF-8 on the wire
        ("bytes=" + "9" * 5000 + "-", 416),  # beyond any file: unsatisfiable
        ("bytes=0-" + "9" * 5000, 206),  # to the end
        ("bytes=-" + "9" * 5000, 206),  # the whole file as a suffix
    ],
)
def test_hostile_range_headers_never_give_500(serve, connect, file_app, header, status) -> None:
    app, _ = file_app
    with serve(app) as server:
        reply = connect(server).request("GET", "/data", [("Range", header)])
    assert reply.status == status
    if status == 206:
        assert reply.body == DATA


@pytest.mark.parametrize("pread", [True, False], ids=["pread", "lseek-read"])
def test_without_sendfile_files_are_read_and_sent_whole_ranges_and_to_slow_readers(
    serve, connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pread: bool
) -> None:
    """Where os.sendfile is missing (Windows) or refused for sockets, the server
    reads and sends: a large file reaches a client that reads slowly, whole,
    and ranges start at the right offset."""
    import socket
    import time

    from barq.server import output

    monkeypatch.setattr(output, "_SENDFILE", False)
    monkeypatch.setattr(output, "_PREAD", pread)
    big = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "big.bin"
    path.write_bytes(big)
    app = Barq()

    @app.get("/big")
    def get_big() -> FileResponse:
        return FileResponse(path)

    with serve(app) as server:
        client = connect(server)
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        client.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)  # the socket fills: the rest waits for room to write
        reply = client.read_response()
        assert reply.status == 200 and reply.body == big
        ranged = client.request("GET", "/big", [("Range", "bytes=1048570-1048600")])
        assert ranged.status == 206 and ranged.body == big[1048570:1048601]


def test_a_socket_refusing_sendfile_falls_back_to_read_and_send(
    serve, connect, file_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from barq.server import output

    def refuse(*args: object) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(output.os, "sendfile", refuse, raising=False)
    monkeypatch.setattr(output, "_SENDFILE", True)
    app, _ = file_app
    with serve(app) as server:
        reply = connect(server).request("GET", "/data")
    assert reply.status == 200 and reply.body == DATA
    assert output._SENDFILE is False
