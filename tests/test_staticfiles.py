"""StaticFiles mounted on an app: index pages, redirects, precedence, traversal."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from barq import Barq
from barq.http.messages import HTTPRequest, HTTPResponse
from barq.staticfiles import StaticFiles
from barq.testing import TestClient

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / "app.js").write_text("console.log(1)")
    (root / "404.html").write_text("<h1>gone</h1>")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    os.symlink(tmp_path / "secret.txt", root / "leak.txt")
    os.symlink(root / "app.js", root / "alias.js")
    return root


@pytest.fixture
def app(site: Path) -> Barq:
    app = Barq()
    app.mount("/static", StaticFiles(directory=site, html=True))
    app.mount("/raw", StaticFiles(directory=site))

    @app.get("/static/shadowed")
    def shadowed() -> str:
        return "route"

    @app.get("/api")
    def api() -> dict:
        return {"api": True}

    return app


def test_example_static_mount(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("files_app", None)
    module = importlib.import_module("files_app")
    client = TestClient(module.app)
    home = client.get("/static/")
    assert home.status_code == 200 and "Welcome" in home.text
    assert client.get("/static/site.css").headers["content-type"].startswith("text/css")
    sys.modules.pop("files_app", None)


def test_files_index_and_redirects(app: Barq) -> None:
    client = TestClient(app, follow_redirects=False)
    js = client.get("/static/app.js")
    assert js.status_code == 200 and js.text == "console.log(1)"
    assert "javascript" in js.headers["content-type"]
    assert client.get("/static/").text == "<h1>home</h1>"
    redirect = client.get("/static/docs?x=1")
    assert redirect.status_code == 307 and redirect.headers["location"] == "/static/docs/?x=1"
    assert client.get("/static").headers["location"] == "/static/"
    assert client.get("/static/docs/").text == "<h1>docs</h1>"
    assert client.get("/static/alias.js").text == "console.log(1)"  # symlink inside the root
    missing = client.get("/static/nope.css")
    assert missing.status_code == 404 and missing.text == "<h1>gone</h1>"
    # without html=True: no index pages, JSON 404
    assert client.get("/raw/docs/").status_code == 404
    assert client.get("/raw/nope").json() == {"detail": "Not Found"}


def test_mount_takes_precedence_and_other_routes_still_work(app: Barq) -> None:
    client = TestClient(app)
    assert client.get("/static/shadowed").status_code == 404  # the mount owns /static/...
    assert client.get("/api").json() == {"api": True}
    assert client.get("/staticky").status_code == 404


def test_only_get_and_head(app: Barq) -> None:
    client = TestClient(app)
    response = client.post("/static/app.js")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    head = client.head("/static/app.js")
    assert head.status_code == 200 and head.content == b""


TRAVERSALS = [
    "/static/../secret.txt",
    "/static/..%2fsecret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E%2Fsecret.txt",
    "/static/docs/..%2f..%2fsecret.txt",
    "/static/..\\secret.txt",
    "/static/%5c..%5csecret.txt",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/static/app.js%00.html",
    "/static/leak.txt",
    "/static/./app.js",
    "/static/C:%5cwindows",
    "/static/%ff%fe",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_attempts_are_404_over_real_socket(serve, connect, app, target) -> None:
    with serve(app) as server:
        reply = connect(server).request("GET", target)
    assert reply.status in (400, 404), (target, reply.status)
    assert b"TOP SECRET" not in reply.body and b"root:" not in reply.body


def test_traversal_is_404_in_process(app: Barq) -> None:
    client = TestClient(app)
    for target in TRAVERSALS:
        if "/./" in target:
            continue  # the test client normalises dot segments itself
        response = client.get(target)
        assert response.status_code == 404, target
        assert b"TOP SECRET" not in response.content


def test_follow_symlink_allows_links_outside(site: Path) -> None:
    app = Barq()
    app.mount("/s", StaticFiles(directory=site, follow_symlink=True))
    assert TestClient(app).get("/s/leak.txt").text == "TOP SECRET"


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "nope")


def test_mounted_barq_app_and_plain_app_and_root_fallback(site: Path) -> None:
    api = Barq()

    @api.get("/users/{uid}")
    def user(uid: int) -> dict:
        return {"uid": uid}

    def plain(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(200, [("content-type", "text/plain")], request.path.encode())

    app = Barq()
    app.mount("/api/v1", api)
    app.mount("/plain", plain)
    app.mount("/", StaticFiles(directory=site, html=True))

    @app.get("/hello")
    def hello() -> str:
        return "hi"

    client = TestClient(app)
    assert client.get("/api/v1/users/7").json() == {"uid": 7}
    assert client.get("/api/v1/users/x").status_code == 422
    assert client.get("/plain/a/b").text == "/a/b"
    assert client.get("/hello").json() == "hi"  # routes win over a root mount
    assert client.get("/").text == "<h1>home</h1>"
    assert client.get("/app.js").text == "console.log(1)"


def test_static_files_as_a_server_application(serve, connect, site: Path) -> None:
    with serve(StaticFiles(directory=site)) as server:
        client = connect(server)
        assert client.request("GET", "/app.js").body == b"console.log(1)"
        assert client.request("GET", "/../secret.txt").status in (400, 404)


def test_dotfiles_are_not_served_unless_allowed(serve, connect, site: Path) -> None:
    (site / ".env").write_text("SECRET_KEY=hunter2")
    (site / ".git").mkdir()
    (site / ".git" / "config").write_text("[core]")
    (site / ".well-known").mkdir()
    (site / ".well-known" / "security.txt").write_text("Contact: mailto:sec@example.com")
    app = Barq()
    app.mount("/static", StaticFiles(directory=site))
    app.mount("/open", StaticFiles(directory=site, allow_dotfiles=True))
    with serve(app) as server:
        client = connect(server)
        for target in ("/static/.env", "/static/.git/config", "/static/%2eenv"):
            reply = client.request("GET", target)
            assert reply.status == 404 and b"SECRET" not in reply.body, target
        assert client.request("GET", "/static/.well-known/security.txt").status == 200
        assert client.request("GET", "/open/.env").body == b"SECRET_KEY=hunter2"


def test_single_page_app_fallback(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<div id=app></div>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    app = Barq()

    @app.get("/api/items")
    def items() -> list:
        return [1]

    app.mount("/", StaticFiles(directory=dist, html=True, fallback="index.html"))
    client = TestClient(app)
    assert client.get("/api/items").json() == [1]  # the app's routes come first
    assert client.get("/").text == "<div id=app></div>"
    page = client.get("/orders/7")  # the frontend's own route: its entry page
    assert page.status_code == 200 and page.text == "<div id=app></div>"
    assert page.headers["cache-control"] == "no-cache"
    assert client.get("/assets/app.js").text == "console.log(1)"
    assert client.get("/assets/missing.js").status_code == 404  # a missing asset stays 404
    assert client.get("/.env").status_code == 404
