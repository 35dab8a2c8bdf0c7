"""End to end: the framework behind the real server, over a socket (one test per area)."""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from barq import (
    Barq,
    CORSMiddleware,
    Depends,
    GZipMiddleware,
    Header,
    HTTPException,
    Request,
    Response,
)
from barq.server import Server, ServerConfig, StartupError


class Item(BaseModel):
    name: str
    price: float


def fetch(
    server: Any, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.addresses[0][:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def post_json(server: Any, path: str, value: Any) -> tuple[int, dict[str, str], bytes]:
    return fetch(
        server, "POST", path, json.dumps(value).encode(), {"content-type": "application/json"}
    )


def test_routing_over_socket(serve) -> None:  # type: ignore[no-untyped-def]
    app = Barq()

    @app.get("/items/{item_id}")
    def read_item(item_id: int, q: str | None = None) -> dict:
        return {"id": item_id, "q": q}

    @app.get("/items/special")
    def special() -> dict:
        return {"special": True}

    with serve(app) as server:
        assert fetch(server, "GET", "/items/5?q=x")[2] == b'{"id":5,"q":"x"}'
        assert json.loads(fetch(server, "GET", "/items/special")[2]) == {"special": True}
        assert fetch(server, "GET", "/nope")[0] == 404
        status, headers, _ = fetch(server, "DELETE", "/items/5")
        assert status == 405 and headers["allow"] == "GET, HEAD"
        status, headers, body = fetch(server, "HEAD", "/items/5")
        assert status == 200 and body == b"" and headers["content-length"] == "17"


def test_params_over_socket(serve) -> None:  # type: ignore[no-untyped-def]
    app = Barq()

    @app.get("/p")
    def params(ids: list[int], user_agent: str = Header("?"), request: Request = None) -> dict:  # type: ignore[assignment]
        return {"ids": ids, "ua": user_agent, "client": request.client is not None}

    with serve(app) as server:
        status, _, body = fetch(server, "GET", "/p?ids=1&ids=2", headers={"User-Agent": "e2e"})
        assert json.loads(body) == {"ids": [1, 2], "ua": "e2e", "client": True}
        status, _, body = fetch(server, "GET", "/p?ids=x")
        assert status == 422 and json.loads(body)["detail"][0]["loc"] == ["query", "ids", 0]


def test_bodies_over_socket(serve) -> None:  # type: ignore[no-untyped-def]
    app = Barq()

    @app.post("/items", status_code=201)
    def create_item(item: Item) -> Item:
        return item

    with serve(app) as server:
        status, _, body = post_json(server, "/items", {"name": "a", "price": 2, "extra": 1})
        assert status == 201 and json.loads(body) == {"name": "a", "price": 2.0}
        status, _, body = fetch(
            server, "POST", "/items", b"{oops", {"content-type": "application/json"}
        )
        assert status == 422 and json.loads(body)["detail"][0]["type"] == "json_invalid"
        status, _, body = fetch(server, "POST", "/items", b"a=b", {"content-type": "text/plain"})
        assert status == 422  # not declared JSON: validated as text, as FastAPI does
        assert json.loads(body)["detail"][0]["type"] == "model_attributes_type"


def test_responses_over_socket(serve) -> None:  # type: ignore[no-untyped-def]
    app = Barq()

    @app.post("/echo")
    def echo(request: Request) -> Response:
        response = Response(request.body, media_type="application/octet-stream")
        response.set_cookie("seen", "1")
        return response

    @app.delete("/gone", status_code=204)
    def gone() -> None:
        return None

    with serve(app) as server:
        payload = bytes(range(256)) * 100
        status, headers, body = fetch(server, "POST", "/echo", payload)
        assert status == 200 and body == payload
        assert headers["content-type"] == "application/octet-stream"
        assert headers["set-cookie"].startswith("seen=1")
        status, headers, body = fetch(server, "DELETE", "/gone")
        assert status == 204 and body == b""


def test_dependencies_over_socket(serve) -> None:  # type: ignore[no-untyped-def]
    events: list[str] = []

    def session() -> Iterator[str]:
        events.append("open")
        try:
            yield "s"
        finally:
            events.append("close")

    app = Barq()

    @app.get("/d")
    def handler(s: str = Depends(session)) -> dict:
        return {"s": s}

    with serve(app) as server:
        assert json.loads(fetch(server, "GET", "/d")[2]) == {"s": "s"}
    assert events == ["open", "close"]


def test_errors_over_socket(serve, caplog) -> None:  # type: ignore[no-untyped-def]
    app = Barq()

    @app.get("/teapot")
    def teapot() -> dict:
        raise HTTPException(418, "short and stout", headers={"x-tea": "earl grey"})

    @app.get("/crash")
    def crash() -> dict:
        raise RuntimeError("kaboom")

    with serve(app) as server:
        status, headers, body = fetch(server, "GET", "/teapot")
        assert status == 418 and headers["x-tea"] == "earl grey"
        assert json.loads(body) == {"detail": "short and stout"}
        status, _, body = fetch(server, "GET", "/crash")
        assert status == 500 and body == b"Internal Server Error"
        status, _, body = fetch(server, "GET", "/crash", headers={"accept": "application/json"})
        assert status == 500 and json.loads(body) == {"detail": "Internal Server Error"}
        # the connection and server survive
        assert fetch(server, "GET", "/teapot")[0] == 418
    assert "kaboom" in caplog.text


def test_middleware_over_socket(serve) -> None:  # type: ignore[no-untyped-def]
    app = Barq()
    app.add_middleware(GZipMiddleware, minimum_size=10)
    app.add_middleware(CORSMiddleware, allow_origins=["https://ui.example"])

    @app.get("/data")
    def data() -> dict:
        return {"blob": "y" * 200}

    with serve(app) as server:
        status, headers, body = fetch(
            server,
            "GET",
            "/data",
            headers={"accept-encoding": "gzip", "origin": "https://ui.example"},
        )
        assert status == 200 and headers["content-encoding"] == "gzip"
        assert headers["access-control-allow-origin"] == "https://ui.example"
        assert json.loads(gzip.decompress(body)) == {"blob": "y" * 200}


def test_lifespan_over_socket(serve) -> None:  # type: ignore[no-untyped-def]
    events: list[str] = []

    def lifespan(app: Barq) -> Iterator[None]:
        events.append("start")
        app.state.greeting = "hello"
        yield
        events.append("stop")

    app = Barq(lifespan=lifespan)

    @app.get("/")
    def root(request: Request) -> dict:
        return {"greeting": request.app.state.greeting}

    with serve(app) as server:
        assert events == ["start"]
        assert json.loads(fetch(server, "GET", "/")[2]) == {"greeting": "hello"}
        with pytest.raises(RuntimeError, match="already serving"):
            app.get("/late")(lambda: None)
    assert events == ["start", "stop"]

    broken = Barq()

    @broken.on_startup
    def fail() -> None:
        raise RuntimeError("no database")

    server = Server(broken, ServerConfig(host="127.0.0.1", port=0, threads=2))
    with pytest.raises((StartupError, RuntimeError), match="no database"):
        server.start()
    server.stop()
