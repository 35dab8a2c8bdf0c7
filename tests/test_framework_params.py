"""Query, header, cookie and path parameters, markers and the Request object."""

from __future__ import annotations

from typing import Annotated

import pytest

from barq import Barq, Cookie, Header, Path, Query, Request
from barq.exceptions import BarqError
from barq.testing import TestClient


def make_app() -> Barq:
    app = Barq()

    @app.get("/q")
    def query(
        a: int,
        b: str = "dflt",
        c: float | None = None,
        flag: bool = False,
        tags: list[str] = [],  # noqa: B006 - copied per request
        ids: list[int] | None = None,
    ) -> dict:
        tags.append("mutated")
        return {"a": a, "b": b, "c": c, "flag": flag, "tags": tags, "ids": ids}

    @app.get("/markers")
    def markers(
        q: Annotated[str, Query(min_length=2, max_length=5, pattern="^[a-z]+$")],
        n: int = Query(10, gt=0, le=100, alias="page-size", description="size"),
        item_id: Annotated[int, Query(ge=1)] = 1,
    ) -> dict:
        return {"q": q, "n": n, "item_id": item_id}

    @app.get("/path/{item_id}")
    def path(item_id: Annotated[int, Path(gt=0, lt=1000)]) -> dict:
        return {"item_id": item_id}

    @app.get("/headers")
    def headers(
        user_agent: str | None = Header(None),
        x_token: Annotated[list[str], Header()] = [],  # noqa: B006
        strange_header: str | None = Header(None, convert_underscores=False),
        aliased: int = Header(0, alias="X-Count"),
    ) -> dict:
        return {"ua": user_agent, "tokens": x_token, "strange": strange_header, "n": aliased}

    @app.get("/cookies")
    def cookies(
        session: str = Cookie(),
        theme: Annotated[str, Cookie(alias="ui-theme")] = "light",
        n: int | None = Cookie(None),
    ) -> dict:
        return {"session": session, "theme": theme, "n": n}

    @app.post("/request/{name}")
    def raw_request(name: str, request: Request) -> dict:
        request.state.seen = True
        return {
            "method": request.method,
            "path": request.path,
            "url": str(request.url),
            "query": request.query_params.getlist("x"),
            "header": request.headers["X-Thing"],
            "cookies": request.cookies,
            "body": request.body.decode(),
            "json": request.json(),
            "client": list(request.client) if request.client else None,
            "path_params": request.path_params,
            "state": request.state.seen,
            "route": request.route.path if request.route else None,
        }

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_app())


def test_query_scalars_lists_defaults(client: TestClient) -> None:
    r = client.get("/q?a=1&c=2.5&flag=yes&tags=x&tags=y&ids=1&ids=2")
    assert r.json() == {
        "a": 1,
        "b": "dflt",
        "c": 2.5,
        "flag": True,
        "tags": ["x", "y", "mutated"],
        "ids": [1, 2],
    }
    # the mutable default is not shared between requests
    r1 = client.get("/q", params={"a": 1})
    r2 = client.get("/q", params={"a": 1})
    assert r1.json()["tags"] == r2.json()["tags"] == ["mutated"]
    assert r1.json()["ids"] is None


def test_query_errors_have_fastapi_shape(client: TestClient) -> None:
    r = client.get("/q?a=x&ids=1&ids=oops")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail[0] == {
        "type": "int_parsing",
        "loc": ["query", "a"],
        "msg": "Input should be a valid integer, unable to parse string as an integer",
        "input": "x",
    }
    assert detail[1]["loc"] == ["query", "ids", 1]
    r = client.get("/q")
    assert r.json() == {
        "detail": [
            {"type": "missing", "loc": ["query", "a"], "msg": "Field required", "input": None}
        ]
    }


def test_query_markers_constraints_and_alias(client: TestClient) -> None:
    assert client.get("/markers?q=abc&page-size=5").json() == {"q": "abc", "n": 5, "item_id": 1}
    r = client.get("/markers?q=a&page-size=0&item_id=0")
    assert r.status_code == 422
    errors = {tuple(e["loc"]): e for e in r.json()["detail"]}
    assert errors[("query", "q")]["type"] == "string_too_short"
    assert errors[("query", "q")]["ctx"] == {"min_length": 2}
    assert errors[("query", "page-size")]["type"] == "greater_than"
    assert errors[("query", "item_id")]["type"] == "greater_than_equal"
    r = client.get("/markers?q=ABC")
    assert r.json()["detail"][0]["type"] == "string_pattern_mismatch"
    r = client.get("/markers?q=abcdef")
    assert r.json()["detail"][0]["type"] == "string_too_long"
    route = next(r for r in client.app.routes if r.path == "/markers")
    field = next(f for f in route.plan.query if f.name == "n")
    assert (field.alias, field.description, field.constraints) == (
        "page-size",
        "size",
        {"gt": 0, "le": 100},
    )


def test_path_marker_constraints(client: TestClient) -> None:
    assert client.get("/path/5").json() == {"item_id": 5}
    r = client.get("/path/1000")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_headers(client: TestClient) -> None:
    r = client.get(
        "/headers",
        headers=[
            ("User-Agent", "tests/1"),
            ("X-Token", "a"),
            ("x-token", "b"),
            ("strange_header", "s"),
            ("X-Count", "3"),
        ],
    )
    assert r.json() == {"ua": "tests/1", "tokens": ["a", "b"], "strange": "s", "n": 3}
    r = client.get("/headers", headers={"X-Count": "many"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["header", "x-count"]


def test_cookies(client: TestClient) -> None:
    r = client.get("/cookies", cookies={"session": "abc", "ui-theme": "dark", "n": "4"})
    assert r.json() == {"session": "abc", "theme": "dark", "n": 4}
    r = client.get("/cookies")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["cookie", "session"]


def test_request_object(client: TestClient) -> None:
    r = client.post(
        "/request/a%20b?x=1&x=2",
        json={"k": [1, 2]},
        headers={"x-thing": "yes"},
        cookies={"c": "v"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "method": "POST",
        "path": "/request/a b",
        "url": "http://testserver/request/a%20b?x=1&x=2",
        "query": ["1", "2"],
        "header": "yes",
        "cookies": {"c": "v"},
        "body": '{"k":[1,2]}',
        "json": {"k": [1, 2]},
        "client": ["testclient", 50000],
        "path_params": {"name": "a b"},
        "state": True,
        "route": "/request/{name}",
    }


def test_bad_signatures_fail_at_registration() -> None:
    app = Barq()
    with pytest.raises(BarqError, match="not in the route path"):

        @app.get("/x")
        def bad_path(y: int = Path()) -> None: ...

    with pytest.raises(BarqError, match="scalar"):

        @app.get("/y")
        def bad_header(h: dict = Header()) -> None: ...

    with pytest.raises(BarqError, match="both in Annotated and as default"):

        @app.get("/z")
        def twice(q: Annotated[int, Query()] = Query(3)) -> None: ...
