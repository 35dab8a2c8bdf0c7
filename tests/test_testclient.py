"""barq.testing.TestClient: the httpx-like in-process client."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from barq import Barq, Request, Response
from barq.http.messages import FileBody, HTTPRequest, HTTPResponse
from barq.testing import TestClient


def make_app() -> Barq:
    app = Barq()

    @app.route("/inspect", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def inspect_(request: Request) -> dict:
        return {
            "method": request.method,
            "target": request.raw.target,
            "host": request.headers.get("host"),
            "ctype": request.headers.get("content-type"),
            "body": request.body.decode("latin-1"),
            "cookies": request.cookies,
            "agent": request.headers.get("x-agent"),
        }

    @app.get("/set")
    def set_cookie() -> Response:
        response = Response("set")
        response.set_cookie("session", "s1")
        return response

    @app.get("/clear")
    def clear() -> Response:
        response = Response("cleared")
        response.delete_cookie("session")
        return response

    @app.get("/go")
    def go() -> Response:
        return Response(status_code=302, headers={"location": "/inspect?from=go"})

    return app


def test_verbs_params_headers_and_bodies() -> None:
    client = TestClient(make_app(), headers={"x-agent": "suite"})
    r = client.get("/inspect", params={"q": "a b", "n": [1, 2], "flag": True})
    body = r.json()
    assert body["target"] == "/inspect?q=a+b&n=1&n=2&flag=true"
    assert body["host"] == "testserver" and body["agent"] == "suite"
    r = client.post("/inspect", json={"a": 1})
    assert (r.json()["ctype"], r.json()["body"]) == ("application/json", '{"a":1}')
    r = client.put("/inspect", data={"a": "1", "b": ["x", "y"]})
    assert r.json()["ctype"] == "application/x-www-form-urlencoded"
    assert r.json()["body"] == "a=1&b=x&b=y"
    r = client.patch("/inspect", content="text", headers={"content-type": "text/plain"})
    assert (r.json()["ctype"], r.json()["body"]) == ("text/plain", "text")
    assert client.delete("/inspect").json()["method"] == "DELETE"
    assert client.request("GET", "http://testserver/inspect?x=1").json()["target"] == "/inspect?x=1"
    assert r.status_code == 200 and r.is_success and r.reason_phrase == "OK"
    assert r.headers["Content-Type"] == r.headers["content-type"] == "application/json"


def test_multipart_files_encoding() -> None:
    client = TestClient(make_app())
    r = client.post(
        "/inspect",
        data={"field": "value"},
        files={"upload": ("a.txt", b"hello\r\nworld", "text/plain"), "raw": b"\x00\x01"},
    )
    info = r.json()
    assert info["ctype"].startswith("multipart/form-data; boundary=")
    boundary = info["ctype"].split("boundary=")[1]
    body = info["body"]
    assert body.startswith(f"--{boundary}\r\n") and body.endswith(f"--{boundary}--\r\n")
    assert 'Content-Disposition: form-data; name="field"\r\n\r\nvalue\r\n' in body
    assert (
        'name="upload"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n'
        in body
    )
    assert 'name="raw"; filename="upload"' in body


def test_cookie_jar_and_redirects() -> None:
    client = TestClient(make_app())
    r = client.get("/set")
    assert r.cookies == {"session": "s1"} and client.cookies == {"session": "s1"}
    assert client.get("/inspect").json()["cookies"] == {"session": "s1"}
    assert client.get("/inspect", cookies={"extra": "1"}).json()["cookies"] == {
        "session": "s1",
        "extra": "1",
    }
    client.get("/clear")
    assert client.cookies == {}
    r = client.get("/go")
    assert r.status_code == 200 and r.json()["target"] == "/inspect?from=go"
    assert [h.status_code for h in r.history] == [302]
    r = client.get("/go", follow_redirects=False)
    assert r.status_code == 302 and r.is_redirect
    assert TestClient(make_app(), follow_redirects=False).get("/go").status_code == 302


def test_base_url_and_client_address() -> None:
    client = TestClient(make_app(), base_url="https://api.example:8443")
    assert client.get("/inspect").json()["host"] == "api.example:8443"


def test_streams_files_and_on_complete(tmp_path) -> None:  # type: ignore[no-untyped-def]
    done: list[str] = []
    closed: list[bool] = []
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")

    class Stream:
        def __iter__(self) -> Iterator[bytes]:
            yield b"a"
            yield b"b"

        def close(self) -> None:
            closed.append(True)

    def raw_app(request: HTTPRequest) -> HTTPResponse:
        if request.path == "/stream":
            return HTTPResponse(200, [], stream=Stream(), on_complete=lambda: done.append("s"))
        return HTTPResponse(200, [], file=FileBody(path, offset=2, count=5))

    client = TestClient(raw_app)
    assert client.get("/stream").content == b"ab"
    assert closed == [True] and done == ["s"]
    assert client.get("/file").content == b"23456"
    assert client.head("/stream").content == b""


def test_shared_between_threads() -> None:
    app = Barq()
    lock = threading.Lock()
    counter = {"n": 0}

    @app.get("/hit")
    def hit(request: Request) -> Response:
        with lock:
            counter["n"] += 1
        response = Response("ok")
        response.set_cookie(f"c{request.query_params['i']}", "1")
        return response

    client = TestClient(app)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for _ in range(20):
                assert client.get(f"/hit?i={i}").status_code == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert counter["n"] == 160
    assert set(client.cookies) == {f"c{i}" for i in range(8)}
