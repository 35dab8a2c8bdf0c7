"""Form fields and file uploads: parsing, validation, limits and errors."""

from __future__ import annotations

import hashlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel

from barq import Barq, Form, UploadFile
from barq.datastructures import UploadFile as FormsUploadFile
from barq.testing import TestClient

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("forms_app", None)
    yield importlib.import_module("forms_app")
    sys.modules.pop("forms_app", None)


def test_urlencoded_login(example) -> None:
    client = TestClient(example.app)
    ok = client.post("/login", data={"username": "ada", "password": "pw", "remember": "true"})
    assert ok.status_code == 200
    assert ok.json() == {"user": "ada", "remember": True}
    encoded = client.post(
        "/login",
        content="username=l%C3%A9a+b&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert encoded.json() == {"user": "léa b", "remember": False}


def test_missing_and_invalid_fields_give_422(example) -> None:
    client = TestClient(example.app)
    missing = client.post("/login", data={"username": "ada"})
    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": None}
    ]
    short = client.post("/login", data={"username": "ab", "password": "x"})
    assert short.status_code == 422
    (error,) = short.json()["detail"]
    assert error["loc"] == ["body", "username"] and error["type"] == "string_too_short"
    # an empty value counts as missing for a required field (as in FastAPI)
    empty = client.post("/login", data={"username": "", "password": "x"})
    assert empty.json()["detail"][0]["type"] == "missing"


def test_upload_file_attributes(example) -> None:
    client = TestClient(example.app)
    payload = bytes(range(256)) * 1000
    response = client.post(
        "/upload",
        data={"title": "bin"},
        files={"document": ("data.bin", payload, "application/x-thing")},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "title": "bin",
        "filename": "data.bin",
        "content_type": "application/x-thing",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    assert FormsUploadFile is UploadFile


def test_multiple_files_and_bytes_file(example) -> None:
    client = TestClient(example.app)
    response = client.post(
        "/gallery",
        files=[
            ("images", ("a.png", b"A", "image/png")),
            ("images", ("b.png", b"B", "image/png")),
            ("note", ("note.txt", b"hello", "text/plain")),
        ],
    )
    assert response.json() == {"names": ["a.png", "b.png"], "note": "hello"}
    missing = client.post("/gallery", files={"note": ("n.txt", b"x")})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "images"]


def test_file_field_given_as_text_is_a_422(example) -> None:
    client = TestClient(example.app)
    body, ctype = _multipart([("document", None, b"just text")])
    response = client.post("/upload", content=body, headers={"content-type": ctype})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "document"]


def test_oversize_upload_is_413(example) -> None:
    client = TestClient(example.app)
    big = b"x" * (5 * 1024 * 1024 + 1)
    response = client.post("/upload", files={"document": ("big.bin", big)})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def _multipart(
    parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ"
) -> tuple[bytes, str]:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nval',
            "multipart/form-data; boundary=XyZ",
            "closing boundary",
        ),
        (
            b"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--\r\n",
            "multipart/form-data; boundary=XyZ",
            "Content-Disposition",
        ),
        (
            b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--\r\n",
            "multipart/form-data; boundary=XyZ",
            "name",
        ),
        (b"garbage without any boundary", "multipart/form-data; boundary=XyZ", "Malformed"),
        (b"--XyZ--\r\n", "multipart/form-data", "boundary"),
    ],
)
def test_malformed_multipart_is_400(example, body: bytes, content_type: str, needle: str) -> None:
    client = TestClient(example.app)
    response = client.post("/login", content=body, headers={"content-type": content_type})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert "Malformed multipart" in detail and needle in detail


def test_json_body_to_form_route_is_422_or_415_when_asked(example) -> None:
    client = TestClient(example.app)
    response = client.post("/login", json={"username": "ada", "password": "x"})
    assert response.status_code == 422  # FastAPI's answer: an empty form, fields missing
    assert {e["loc"][-1] for e in response.json()["detail"]} >= {"username", "password"}
    example.app.reject_unsupported_media_type = True
    try:
        response = client.post("/login", json={"username": "ada", "password": "x"})
        assert response.status_code == 415
        assert "form" in response.json()["detail"]
        response = client.post("/login", content=b"username=ada&password=x")
        assert response.status_code == 415  # no Content-Type at all
    finally:
        example.app.reject_unsupported_media_type = False


def test_too_many_fields_is_400() -> None:
    app = Barq()
    app.max_form_fields = 3  # type: ignore[attr-defined]

    @app.post("/f")
    def f(a: Annotated[str, Form()]) -> str:
        return a

    client = TestClient(app)
    assert client.post("/f", data={"a": "1", "b": "2"}).status_code == 200
    response = client.post("/f", data={"a": "1", "b": "2", "c": "3", "d": "4"})
    assert response.status_code == 400 and "Too many" in response.json()["detail"]


def test_large_upload_spools_to_disk_and_files_are_closed() -> None:
    app = Barq()
    seen: list[UploadFile] = []

    @app.post("/up")
    def up(small: UploadFile, large: UploadFile) -> dict:
        seen.extend([small, large])
        return {"small": small.in_memory, "large": large.in_memory, "data": small.read().decode()}

    client = TestClient(app)
    big = b"z" * (UploadFile.spool_max_size + 10)
    response = client.post("/up", files={"small": ("s.txt", b"tiny"), "large": ("l.bin", big)})
    assert response.json() == {"small": True, "large": False, "data": "tiny"}
    assert all(upload.closed for upload in seen)


class Signup(BaseModel):
    email: str
    age: int
    interests: list[str] = []


def test_form_model_and_repeated_fields() -> None:
    app = Barq()

    @app.post("/signup")
    def signup(data: Annotated[Signup, Form()]) -> Signup:
        return data

    @app.post("/tags")
    def tags(tag: Annotated[list[str], Form()]) -> list[str]:
        return tag

    client = TestClient(app)
    response = client.post("/signup", data={"email": "a@b.c", "age": "30", "interests": ["x", "y"]})
    assert response.json() == {"email": "a@b.c", "age": 30, "interests": ["x", "y"]}
    bad = client.post("/signup", data={"email": "a@b.c", "age": "old"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "age"]
    assert client.post("/tags", data={"tag": ["a", "b"]}).json() == ["a", "b"]


def test_mixing_json_body_and_form_is_a_registration_error() -> None:
    from barq.exceptions import BarqError

    app = Barq()
    with pytest.raises(BarqError, match="cannot mix"):

        @app.post("/x")
        def x(a: Annotated[str, Form()], b: Signup) -> None:
            return None


def test_upload_over_real_socket_and_server_body_limit(serve, connect, example) -> None:
    body, ctype = _multipart([("document", "r.txt", b"hello"), ("title", None, b"t")])
    with serve(example.app, max_body_bytes=64 * 1024) as server:
        client = connect(server)
        reply = client.request("POST", "/upload", [("Content-Type", ctype)], body)
        assert reply.status == 200, reply.body
        assert b'"size":5' in reply.body and b'"filename":"r.txt"' in reply.body
        big, ctype = _multipart([("document", "b.bin", b"x" * 100_000)])
        other = connect(server)
        reply = other.request("POST", "/upload", [("Content-Type", ctype)], big)
        assert reply.status == 413
