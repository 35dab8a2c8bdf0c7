"""Every Python example included into the documentation runs here.

The pages include files from ``docs/examples/`` with ``--8<--``; this module
imports each of them and checks what the surrounding text promises.
``test_docs_pages.py`` checks that every included ``.py`` file is listed in
:data:`EXERCISED`, so an example cannot be added to a page without a test.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import runpy
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from barq.server import Server
from barq.testing import TestClient

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"

#: Example files exercised by this module (checked against the pages' includes).
EXERCISED = {
    "hello.py",
    "tutorial_routes.py",
    "tutorial_parameters.py",
    "tutorial_bodies.py",
    "tutorial_responses.py",
    "tutorial_dependencies.py",
    "tutorial_errors.py",
    "tutorial_middleware.py",
    "tutorial_lifespan.py",
    "tutorial_testing.py",
    "server_in_tests.py",
    "server_embedded.py",
    "free_threading_counters.py",
    "runtime_check.py",
    "deploy_app.py",  # also served through nginx in test_docs_nginx.py
}


def test_hello(load) -> None:
    hello = load("hello")
    client = TestClient(hello.app)
    assert client.get("/items/5?q=x").json() == {"id": 5, "q": "x"}
    created = client.post("/items", json={"name": "pen", "price": 1.5})
    assert created.status_code == 201
    assert created.json() == {"name": "pen", "price": 1.5}
    assert client.post("/items", json={"name": "pen"}).status_code == 422


def test_routes(load) -> None:
    mod = load("tutorial_routes")
    client = TestClient(mod.app)
    assert client.get("/").json() == {"shop": "open"}
    assert client.get("/books/3").json() == {"id": 3}
    assert client.get("/books/latest").json() == {"id": 42, "latest": True}
    bad = client.get("/books/x")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "book_id"]
    assert client.get("/files/a/b.txt").json() == {"path": "a/b.txt"}
    assert client.get("/ping").json() == "pong"
    assert client.post("/ping").json() == "pong"
    assert client.head("/books/3").status_code == 200
    wrong = client.delete("/books/3")
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["allow"]
    assert client.get("/nothing").status_code == 404
    assert client.get("/authors/").json() == ["Ada", "Grace"]
    assert client.get("/authors/Ada").json() == {"name": "Ada"}
    assert mod.app.url_path_for("author", name="Ada") == "/authors/Ada"


def test_parameters(load) -> None:
    client = TestClient(load("tutorial_parameters").app)
    assert client.get("/search?q=x").json() == {"q": "x", "page": 1, "sort": "title", "tags": []}
    full = client.get("/search?q=x&page=2&sort=year&tag=a&tag=b").json()
    assert full == {"q": "x", "page": 2, "sort": "year", "tags": ["a", "b"]}
    missing = client.get("/search")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "q"]
    assert client.get("/search?q=x&sort=nope").status_code == 422
    ok = client.get("/items/5?size=3&item-code=ABC").json()
    assert ok == {"item_id": 5, "size": 3, "code": "ABC"}
    # the 422 shown on the page
    zero = client.get("/items/0").json()["detail"][0]
    assert zero["type"] == "greater_than_equal"
    assert zero["loc"] == ["path", "item_id"]
    assert zero["msg"] == "Input should be greater than or equal to 1"
    assert client.get("/items/5?item-code=abc").status_code == 422
    assert client.get("/items/5?size=101").status_code == 422
    seen = client.get("/whoami", headers={"user-agent": "ua/1"}, cookies={"session": "s1"})
    assert seen.json() == {"user_agent": "ua/1", "session": "s1"}


def test_bodies(load) -> None:
    client = TestClient(load("tutorial_bodies").app)
    created = client.post("/items", json={"name": "pen", "price": 1.5})
    assert created.status_code == 201
    assert created.json() == {"name": "pen", "price": 1.5, "tags": []}
    bad = client.post("/items", json={"name": "", "price": -1})
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["body", "name"], ["body", "price"]]
    both = client.put(
        "/items/3", json={"item": {"name": "pen", "price": 1.5}, "owner": {"email": "a@b"}}
    )
    assert both.json() == {
        "id": 3,
        "item": {"name": "pen", "price": 1.5, "tags": []},
        "owner": "a@b",
    }
    assert client.post("/ratings", json={"stars": 4}).json() == {"stars": 4}
    assert client.post("/ratings", json={"stars": 9}).status_code == 422
    assert client.post("/ratings", json=4).status_code == 422
    assert client.post("/items", content=b"{bad").status_code == 422
    not_json = client.post(
        "/items", content=b"name=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert not_json.status_code == 422  # as FastAPI: not declared JSON, so not a dict
    assert not_json.json()["detail"][0]["type"] == "model_attributes_type"


def test_responses(load) -> None:
    mod = load("tutorial_responses")
    client = TestClient(mod.app, follow_redirects=False)
    assert client.get("/data").json() == {"answer": 42}
    user = client.post("/users", json={"name": "ada", "password": "secret"})
    assert user.status_code == 201
    assert user.json() == {"name": "ada"}
    html = client.get("/hello")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.text == "<h1>Hello</h1>"
    robots = client.get("/robots.txt")
    assert robots.headers["content-type"].startswith("text/plain")
    assert robots.text.startswith("User-agent: *")
    moved = client.get("/old-data")
    assert (moved.status_code, moved.headers["location"]) == (308, "/data")
    teapot = client.get("/teapot")
    assert (teapot.status_code, teapot.headers["x-pot"]) == (418, "1")
    login = client.post("/login")
    assert login.json() == {"logged_in": True}
    assert login.cookies == {"session": "abc123"}
    assert "HttpOnly" in login.headers["set-cookie"]
    assert login.headers["cache-control"] == "no-store"
    signup = client.post("/signup?email=a@example.com")
    assert signup.status_code == 202
    assert mod.sent_emails == ["a@example.com"]


def test_dependencies(load) -> None:
    mod = load("tutorial_dependencies")
    client = TestClient(mod.app)
    assert client.get("/me").status_code == 422  # the X-User header is required
    unknown = client.get("/me", headers={"x-user": "zed"})
    assert unknown.status_code == 401
    assert unknown.headers["www-authenticate"] == "X-User"
    assert client.get("/me", headers={"x-user": "bob"}).json() == {"name": "Bob"}
    assert client.get("/admin/stats", headers={"x-user": "bob"}).status_code == 403
    assert client.get("/admin/stats", headers={"x-user": "ada"}).json() == {"users": 2}
    mod.events.clear()
    assert client.get("/users?offset=1&limit=1").json() == ["bob"]
    assert mod.events == ["db opened", "db closed"]  # once per request, closed after
    mod.events.clear()
    client.get("/me", headers={"x-user": "zed"})
    assert mod.events == ["db opened", "db closed"]  # teardown also after an error


def test_errors(load, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(load("tutorial_errors").app, raise_server_exceptions=False)
    assert client.get("/stock/pen").json() == {"item": "pen", "count": 3}
    assert client.get("/stock/cup").json() == {"error": "not found", "path": "/stock/cup"}
    assert client.get("/nothing").status_code == 404
    sold_out = client.post("/orders?item=pen&count=9")
    assert (sold_out.status_code, sold_out.json()) == (409, {"error": "pen is sold out"})
    invalid = client.post("/orders?item=pen&count=x")
    assert invalid.status_code == 400
    assert invalid.json() == {"error": "invalid input", "fields": ["query.count"]}
    assert client.post("/orders?item=pen&count=1").json() == {"ordered": 1}
    with caplog.at_level(logging.ERROR, logger="barq.app"):
        boom = client.get("/boom")
    assert (boom.status_code, boom.text) == (500, "Internal Server Error")
    assert "a bug" in caplog.text


def test_middleware(load) -> None:
    client = TestClient(load("tutorial_middleware").app)
    response = client.get(
        "/report",
        headers={
            "accept-encoding": "gzip",
            "x-request-id": "r1",
            "origin": "https://example.com",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.raw_content))["request_id"] == "r1"
    assert response.headers["x-request-id"] == "r1"
    assert response.headers["access-control-allow-origin"] == "https://example.com"
    assert response.headers["server-timing"].startswith("app;dur=")
    plain = client.get("/report", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json()["request_id"] == "generated"
    preflight = client.options(
        "/report",
        headers={"origin": "https://example.com", "access-control-request-method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://example.com"
    other = client.get("/report", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_lifespan_and_testing_page(load) -> None:
    mod = load("tutorial_lifespan")
    with TestClient(mod.app) as client:
        assert mod.log == ["started"]
        assert client.get("/hits").json() == {"hits": 1}
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: client.get("/hits"), range(40)))
        assert client.get("/hits").json() == {"hits": 42}
    assert mod.log == ["started", "stopped"]


def test_testing_page_examples_pass_under_pytest() -> None:
    """The testing page's test files pass when pytest runs them, as the page says."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tutorial_testing.py", "server_in_tests.py"],
        cwd=EXAMPLES,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_server_embedded(load) -> None:
    mod = load("server_embedded")
    mod.config.validate()
    assert mod.config.threads == 32
    assert mod.config.max_body_bytes == 4 * 1024 * 1024
    server = Server(mod.app, mod.config.with_options(host="127.0.0.1", port=0, threads=2))
    server.start()
    try:
        host, port = server.addresses[0]
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as response:
            assert json.load(response) == {"ok": True}
        # A too-large body is refused from its Content-Length, before it is sent.
        with socket.create_connection((host, port), timeout=5) as sock:
            length = 4 * 1024 * 1024 + 1
            sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")
    finally:
        server.stop()


def test_free_threading_counters(load) -> None:
    mod = load("free_threading_counters")
    client = TestClient(mod.app)
    start = threading.Barrier(8)

    def hammer(page: str) -> None:
        start.wait()
        for _ in range(50):
            assert client.post(f"/visit/{page}").status_code == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hammer, ["a", "b"] * 4))
    assert client.get("/visits").json() == {"a": 200, "b": 200}


def test_runtime_check(capsys: pytest.CaptureFixture[str]) -> None:
    from barq.runtime import describe_interpreter, free_threaded_build, gil_enabled

    runpy.run_path(str(EXAMPLES / "runtime_check.py"), run_name="example")
    out = capsys.readouterr().out
    assert out.splitlines()[0] == describe_interpreter()
    assert ("turned the GIL back on" in out) == (free_threaded_build() and gil_enabled())


def test_deploy_app(load) -> None:
    mod = load("deploy_app")
    seen = TestClient(mod.app, client=("10.1.2.3", 5555)).get("/whoami").json()
    assert seen["client"] == "10.1.2.3"
    assert seen["scheme"] == "http"
    assert seen["host"] == "testserver"
