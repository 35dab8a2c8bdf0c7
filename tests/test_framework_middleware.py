"""Middleware chain, CORS and GZip."""

from __future__ import annotations

import gzip

from barq import Barq, BaseHTTPMiddleware, CORSMiddleware, GZipMiddleware, Request, Response
from barq.middleware.base import CallNext
from barq.middleware.gzip import accepts_gzip
from barq.testing import TestClient


def test_function_and_class_middleware_order() -> None:
    order: list[str] = []
    app = Barq()

    class Tagger(BaseHTTPMiddleware):
        def __init__(self, app: CallNext, tag: str) -> None:
            super().__init__(app)
            self.tag = tag

        def dispatch(self, request: Request, call_next: CallNext) -> Response:
            order.append(f"{self.tag} in")
            response = call_next(request)
            order.append(f"{self.tag} out")
            response.headers.append("x-tags", self.tag)
            return response

    app.add_middleware(Tagger, tag="inner")

    @app.middleware("http")
    def timing(request: Request, call_next: CallNext) -> Response:
        request.state.user = "ann"
        order.append("func in")
        response = call_next(request)
        order.append("func out")
        response.headers["x-process"] = "1"
        return response

    app.add_middleware(Tagger, tag="outer")

    @app.get("/")
    def root(request: Request) -> dict:
        order.append("handler")
        return {"user": request.state.user}

    r = TestClient(app).get("/")
    assert r.json() == {"user": "ann"}
    assert order == [
        "outer in",
        "func in",
        "inner in",
        "handler",
        "inner out",
        "func out",
        "outer out",
    ]
    assert r.headers.getlist("x-tags") == ["inner", "outer"]
    assert r.headers["x-process"] == "1"


def test_middleware_can_short_circuit_and_sees_error_responses() -> None:
    app = Barq()
    seen: list[int] = []

    @app.middleware("http")
    def guard(request: Request, call_next: CallNext) -> Response:
        if request.headers.get("x-block"):
            return Response("blocked", status_code=403, media_type="text/plain")
        response = call_next(request)
        seen.append(response.status_code)
        return response

    @app.get("/")
    def root() -> dict:
        return {}

    client = TestClient(app)
    r = client.get("/", headers={"x-block": "1"})
    assert (r.status_code, r.text) == (403, "blocked")
    client.get("/missing")
    client.get("/")
    assert seen == [404, 200]


def test_middleware_returning_garbage_is_500() -> None:
    app = Barq()

    @app.middleware("http")
    def bad(request: Request, call_next: CallNext) -> Response:
        return "oops"  # type: ignore[return-value]

    @app.get("/")
    def root() -> dict:
        return {}

    assert TestClient(app, raise_server_exceptions=False).get("/").status_code == 500


def cors_app(**options: object) -> TestClient:
    app = Barq()
    app.add_middleware(CORSMiddleware, **options)

    @app.get("/data")
    def data() -> dict:
        return {"ok": True}

    @app.post("/data")
    def post_data() -> dict:
        return {"posted": True}

    return TestClient(app)


def test_cors_simple_and_preflight() -> None:
    client = cors_app(
        allow_origins=["https://a.example"],
        allow_methods=["GET", "POST"],
        allow_headers=["X-Token"],
        expose_headers=["X-Total"],
        max_age=123,
    )
    r = client.get("/data", headers={"origin": "https://a.example"})
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["access-control-expose-headers"] == "X-Total"
    assert "Origin" in r.headers["vary"]
    r = client.get("/data", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers and r.status_code == 200
    r = client.options(
        "/data",
        headers={
            "origin": "https://a.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-token, content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert set(r.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    assert "x-token" in r.headers["access-control-allow-headers"]
    assert r.headers["access-control-max-age"] == "123"
    r = client.options(
        "/data",
        headers={
            "origin": "https://a.example",
            "access-control-request-method": "DELETE",
            "access-control-request-headers": "x-other",
        },
    )
    assert r.status_code == 400 and r.text == "Disallowed CORS method, headers"


def test_cors_wildcard_credentials_and_regex() -> None:
    client = cors_app(allow_origins=["*"])
    r = client.get("/data", headers={"origin": "https://x.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    client = cors_app(allow_origins=["*"], allow_credentials=True)
    r = client.get("/data", headers={"origin": "https://x.example"})
    assert r.headers["access-control-allow-origin"] == "https://x.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    client = cors_app(allow_origin_regex=r"https://.*\.trusted\.dev")
    r = client.get("/data", headers={"origin": "https://app.trusted.dev"})
    assert r.headers["access-control-allow-origin"] == "https://app.trusted.dev"
    r = client.get("/data", headers={"origin": "https://trusted.dev.evil.com"})
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/data")  # no Origin: untouched
    assert "access-control-allow-origin" not in r.headers


def gzip_app() -> TestClient:
    app = Barq()
    app.add_middleware(GZipMiddleware, minimum_size=100)

    @app.get("/big")
    def big() -> dict:
        return {"data": "x" * 1000}

    @app.get("/small")
    def small() -> dict:
        return {"d": 1}

    return TestClient(app)


def test_gzip() -> None:
    client = gzip_app()
    r = client.get("/big", headers={"accept-encoding": "gzip, deflate"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(r.raw_content) == b'{"data":"' + b"x" * 1000 + b'"}'
    assert r.json() == {"data": "x" * 1000}  # the client decodes it, as httpx does
    r = client.get("/big", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in r.headers and r.headers["vary"] == "Accept-Encoding"
    assert r.json() == {"data": "x" * 1000}
    r = client.get("/big", headers={"accept-encoding": "gzip;q=0, br"})
    assert "content-encoding" not in r.headers
    r = client.get("/small", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in r.headers and r.json() == {"d": 1}


def test_accepts_gzip_parsing() -> None:
    assert accepts_gzip("gzip")
    assert accepts_gzip("br;q=1.0, gzip;q=0.8")
    assert accepts_gzip("*")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("*;q=0")
    assert not accepts_gzip(None)
