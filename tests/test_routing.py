"""The radix-tree router and route registration, through the tree and TestClient."""

from __future__ import annotations

import uuid
from enum import Enum, IntEnum

import pytest

from barq import APIRouter, Barq, Depends, Request
from barq.exceptions import BarqError
from barq.radix import RadixTree, compile_path
from barq.routing import Route
from barq.testing import TestClient


def _route(path: str, name: str, methods: tuple[str, ...] = ("GET",)) -> Route:
    def endpoint() -> dict:
        return {}

    return Route(path, endpoint, methods=methods, name=name)


def _tree(*paths: str) -> RadixTree:
    tree = RadixTree()
    for path in paths:
        tree.insert(path, ["GET"], _route(path, path))
    return tree


def _hit(tree: RadixTree, path: str, method: str = "GET") -> tuple[str, dict[str, str]] | None:
    m = tree.match(method, path)
    if m is None or m.route is None:
        return None
    return m.route.path, m.params


def test_static_beats_param_and_backtracks() -> None:
    tree = _tree("/users/me", "/users/{id}", "/users/{id}/posts", "/users/me/settings")
    assert _hit(tree, "/users/me") == ("/users/me", {})
    assert _hit(tree, "/users/42") == ("/users/{id}", {"id": "42"})
    assert _hit(tree, "/users/me/settings") == ("/users/me/settings", {})
    # "me" is static but only /users/me/settings exists under it: backtrack to {id}
    assert _hit(tree, "/users/me/posts") == ("/users/{id}/posts", {"id": "me"})
    assert _hit(tree, "/users") is None
    assert _hit(tree, "/users/") is None  # an empty segment is not a parameter


def test_compressed_static_edges_split_correctly() -> None:
    tree = _tree("/api/v1/users", "/api/v1/items", "/api/v2/users", "/api", "/")
    assert _hit(tree, "/api/v1/users") == ("/api/v1/users", {})
    assert _hit(tree, "/api/v1/items") == ("/api/v1/items", {})
    assert _hit(tree, "/api/v2/users") == ("/api/v2/users", {})
    assert _hit(tree, "/api") == ("/api", {})
    assert _hit(tree, "/") == ("/", {})
    assert _hit(tree, "/api/v1") is None
    assert _hit(tree, "/api/v3/users") is None


def test_catch_all_takes_the_rest() -> None:
    tree = _tree("/files/{rest:path}", "/files/special", "/static/{name}")
    assert _hit(tree, "/files/a/b/c.txt") == ("/files/{rest:path}", {"rest": "a/b/c.txt"})
    assert _hit(tree, "/files/special") == ("/files/special", {})
    assert _hit(tree, "/files/") == ("/files/{rest:path}", {"rest": ""})
    assert _hit(tree, "/static/x/y") is None


def test_percent_decoding_is_per_segment() -> None:
    tree = _tree("/a/{name}", "/a/{name}/b", "/caf\u00e9")
    # %2F inside a segment does not split it
    assert _hit(tree, "/a/x%2Fy") == ("/a/{name}", {"name": "x/y"})
    assert _hit(tree, "/a/hello%20world/b") == ("/a/{name}/b", {"name": "hello world"})
    assert _hit(tree, "/caf%C3%A9") == ("/caf\u00e9", {})


def test_method_mismatch_reports_allowed_and_prefers_matching_method() -> None:
    tree = RadixTree()
    tree.insert("/users/me", ["GET"], _route("/users/me", "me"))
    tree.insert("/users/{id}", ["DELETE"], _route("/users/{id}", "del", ("DELETE",)))
    m = tree.match("DELETE", "/users/me")
    assert m is not None and m.route is not None and m.route.name == "del"
    m = tree.match("POST", "/users/me")
    assert m is not None and m.route is None and m.allowed == ["GET", "HEAD"]


def test_bad_templates_and_duplicates_rejected() -> None:
    with pytest.raises(BarqError, match="whole segment"):
        compile_path("/x{y}")
    with pytest.raises(BarqError, match="must come last"):
        compile_path("/{p:path}/x")
    with pytest.raises(BarqError, match="unknown converter"):
        compile_path("/{p:int}")
    with pytest.raises(BarqError, match="twice"):
        compile_path("/{a}/{a}")
    with pytest.raises(BarqError, match="start with"):
        compile_path("x")
    tree = _tree("/a/{x}")
    with pytest.raises(BarqError, match="conflicts"):
        tree.insert("/a/{y}", ["GET"], _route("/a/{y}", "dup"))


class Color(Enum):
    red = "red"
    blue = "blue"


class Level(IntEnum):
    low = 1
    high = 2


def make_app() -> Barq:
    app = Barq()

    @app.get("/items/{item_id}")
    def read_item(item_id: int) -> dict:
        return {"item_id": item_id}

    @app.get("/items/special")
    def special() -> dict:
        return {"special": True}

    @app.get("/f/{x}")
    def floats(x: float) -> dict:
        return {"x": x}

    @app.get("/u/{u}")
    def uuids(u: uuid.UUID) -> dict:
        return {"u": str(u)}

    @app.get("/b/{flag}")
    def bools(flag: bool) -> dict:
        return {"flag": flag}

    @app.get("/c/{color}")
    def colors(color: Color) -> dict:
        return {"color": color.value, "is_enum": isinstance(color, Color)}

    @app.get("/n/{level}")
    def levels(level: Level) -> dict:
        return {"level": level.name}

    @app.get("/s/{name}")
    def strings(name: str, request: Request) -> dict:
        return {"name": name, "params": request.path_params}

    @app.get("/files/{rest:path}")
    def files(rest: str) -> dict:
        return {"rest": rest}

    @app.put("/items/{item_id}")
    def put_item(item_id: int) -> dict:
        return {"put": item_id}

    @app.route("/multi", methods=["GET", "POST"])
    def multi(request: Request) -> dict:
        return {"method": request.method}

    @app.patch("/p")
    def patch() -> dict:
        return {"m": "patch"}

    @app.delete("/p")
    def delete() -> dict:
        return {"m": "delete"}

    @app.options("/p")
    def options() -> dict:
        return {"m": "options"}

    @app.head("/h")
    def head_only() -> dict:
        return {}

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_app())


def test_typed_path_parameters(client: TestClient) -> None:
    assert client.get("/items/42").json() == {"item_id": 42}
    assert client.get("/f/1.5").json() == {"x": 1.5}
    u = uuid.uuid4()
    assert client.get(f"/u/{u}").json() == {"u": str(u)}
    assert client.get("/b/true").json() == {"flag": True}
    assert client.get("/b/0").json() == {"flag": False}
    assert client.get("/c/blue").json() == {"color": "blue", "is_enum": True}
    assert client.get("/n/2").json() == {"level": "high"}
    assert client.get("/s/a%20b").json() == {"name": "a b", "params": {"name": "a b"}}
    assert client.get("/files/x/y/z.txt").json() == {"rest": "x/y/z.txt"}


def test_bad_path_values_give_422(client: TestClient) -> None:
    r = client.get("/items/abc")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "item_id"]
    assert r.json()["detail"][0]["type"] == "int_parsing"
    assert client.get("/u/not-a-uuid").status_code == 422
    r = client.get("/c/green")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "enum"


def test_static_wins(client: TestClient) -> None:
    assert client.get("/items/special").json() == {"special": True}


def test_404_and_405(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.post("/items/3")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, PUT"
    assert r.json() == {"detail": "Method Not Allowed"}


def test_all_method_decorators(client: TestClient) -> None:
    assert client.put("/items/3").json() == {"put": 3}
    assert client.get("/multi").json() == {"method": "GET"}
    assert client.post("/multi").json() == {"method": "POST"}
    assert client.patch("/p").json() == {"m": "patch"}
    assert client.delete("/p").json() == {"m": "delete"}
    assert client.options("/p").json() == {"m": "options"}
    assert client.head("/h").status_code == 200
    assert client.get("/h").status_code == 405


def test_automatic_head_for_get(client: TestClient) -> None:
    r = client.head("/items/7")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-type"] == "application/json"
    assert r.raw.body == b'{"item_id":7}'  # the server sends the head only


def test_trailing_slash_redirect(client: TestClient) -> None:
    r = client.get("/items/3/?a=1", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/items/3?a=1"
    assert client.get("/items/3/").json() == {"item_id": 3}


def test_router_prefix_tags_dependencies() -> None:
    calls: list[str] = []

    def app_dep() -> None:
        calls.append("app")

    def router_dep() -> None:
        calls.append("router")

    def include_dep() -> None:
        calls.append("include")

    app = Barq(dependencies=[Depends(app_dep)])
    router = APIRouter(prefix="/users", tags=["users"], dependencies=[Depends(router_dep)])

    @router.get("/{user_id}", tags=["read"])
    def get_user(user_id: int) -> dict:
        calls.append("handler")
        return {"user_id": user_id}

    @router.get("")
    def list_users() -> list:
        return []

    inner = APIRouter()

    @inner.get("/ping")
    def ping() -> str:
        return "pong"

    app.include_router(router, prefix="/v1", dependencies=[Depends(include_dep)])
    app.include_router(inner)
    routes = {r.path: r for r in app.routes}
    assert set(routes) == {"/v1/users/{user_id}", "/v1/users", "/ping"}
    assert routes["/v1/users/{user_id}"].tags == ["users", "read"]
    client = TestClient(app)
    assert client.get("/v1/users/5").json() == {"user_id": 5}
    assert calls == ["app", "include", "router", "handler"]
    assert client.get("/v1/users").json() == []
    assert client.get("/ping").json() == "pong"
    assert app.url_path_for("get_user", user_id=5) == "/v1/users/5"


def test_route_metadata_kept_for_openapi() -> None:
    app = Barq()

    @app.post("/things", status_code=201, tags=["t"], summary="Make", include_in_schema=False)
    def make_thing(q: int = 1) -> dict:
        """Create a thing."""
        return {}

    route = app.routes[0]
    assert route.methods == frozenset({"POST"})
    assert (route.name, route.summary, route.description) == (
        "make_thing",
        "Make",
        "Create a thing.",
    )
    assert (route.status_code, route.tags, route.include_in_schema) == (201, ["t"], False)
    field = route.plan.query[0]
    assert (field.name, field.location, field.alias, field.default, field.required) == (
        "q",
        "query",
        "q",
        1,
        False,
    )


def test_frozen_after_startup() -> None:
    app = Barq()

    @app.get("/")
    def root() -> dict:
        return {}

    app.startup()
    try:
        with pytest.raises(RuntimeError, match="already serving"):

            @app.get("/late")
            def late() -> dict:
                return {}

        with pytest.raises(RuntimeError):
            app.add_middleware(object)  # type: ignore[arg-type]
    finally:
        app.shutdown()
