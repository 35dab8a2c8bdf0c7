"""JSON bodies (models, lists, embedded fields), content types and response rendering."""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated

import pytest
from pydantic import BaseModel

from barq import (
    Barq,
    Body,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
)
from barq.testing import TestClient


class Item(BaseModel):
    name: str
    price: float


class User(BaseModel):
    username: str


class UserIn(User):
    password: str


@dataclasses.dataclass
class Point:
    x: int
    y: int


def make_app() -> Barq:
    app = Barq()

    @app.post("/items", status_code=201)
    def create_item(item: Item) -> Item:
        return item

    @app.post("/many")
    def many(items: list[Item]) -> dict:
        return {"total": sum(i.price for i in items)}

    @app.put("/embed/{item_id}")
    def embed(item_id: int, item: Item, user: User, importance: Annotated[int, Body(gt=0)]) -> dict:
        return {"item_id": item_id, "item": item, "user": user, "importance": importance}

    @app.post("/single-embed")
    def single_embed(item: Item = Body(embed=True)) -> Item:
        return item

    @app.post("/optional")
    def optional(item: Item | None = None) -> dict:
        return {"item": item}

    @app.post("/echo")
    def echo(request: Request) -> Response:
        return Response(request.body, media_type="application/octet-stream")

    @app.post("/users")
    def create_user(user: UserIn) -> User:
        return user  # the password must not leak

    @app.get("/users/dict", response_model=User)
    def user_dict() -> dict:
        return {"username": "ann", "password": "secret"}

    @app.get("/users/list")
    def user_list() -> list[User]:
        return [UserIn(username="a", password="p"), {"username": "b", "password": "q"}]  # type: ignore[list-item]

    @app.get("/bad-output")
    def bad_output() -> Item:
        return {"name": "x"}  # type: ignore[return-value]

    @app.get("/point")
    def point() -> Point:
        return Point(1, 2)

    @app.get("/plain")
    def plain() -> dict:
        return {"model": Item(name="a", price=1), "point": Point(3, 4), "list": [1, 2]}

    @app.get("/no-model", response_model=None)
    def no_model() -> Item:
        return {"anything": "goes"}  # type: ignore[return-value]

    @app.get("/bypass")
    def bypass() -> Item:
        return JSONResponse({"raw": True}, status_code=202, headers={"x-a": "1"})  # type: ignore[return-value]

    @app.get("/html", response_class=HTMLResponse)
    def html() -> str:
        return "<h1>hi</h1>"

    @app.get("/text")
    def text() -> PlainTextResponse:
        return PlainTextResponse("hello", headers={"X-Extra": "yes"})

    @app.get("/redirect")
    def redirect() -> RedirectResponse:
        return RedirectResponse("/text?a=b c", status_code=303)

    @app.delete("/thing", status_code=204)
    def delete_thing() -> None:
        return None

    @app.get("/cookie")
    def cookie() -> Response:
        response = JSONResponse({"ok": True})
        response.set_cookie("session", "abc", max_age=60, httponly=True)
        response.set_cookie("other", "x", samesite="strict", secure=True)
        response.delete_cookie("old")
        return response

    @app.get("/sub-response")
    def sub_response(response: Response) -> dict:
        response.headers["X-From-Handler"] = "1"
        response.set_cookie("sub", "yes")
        response.status_code = 203
        return {"ok": True}

    @app.get("/exclude", response_model=Item, response_model_exclude_unset=True)
    def exclude() -> dict:
        return {"name": "n", "price": 2}

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(make_app(), raise_server_exceptions=False)


def test_issue_example(client: TestClient) -> None:
    r = client.post("/items", json={"name": "pen", "price": 1.5})
    assert r.status_code == 201 and r.json() == {"name": "pen", "price": 1.5}
    r = client.post("/echo", content=b"\x00\x01raw")
    assert r.content == b"\x00\x01raw"
    assert r.headers["content-type"] == "application/octet-stream"


def test_body_validation_errors(client: TestClient) -> None:
    r = client.post("/items", json={"name": "pen", "price": "cheap"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "price"]
    assert r.json()["detail"][0]["type"] == "float_parsing"
    r = client.post("/items")
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
    ]


def test_invalid_json_is_422_json_invalid(client: TestClient) -> None:
    r = client.post(
        "/items", content=b'{"name": "pen",', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    error = r.json()["detail"][0]
    assert error["type"] == "json_invalid"
    assert error["loc"][0] == "body" and isinstance(error["loc"][1], int)
    assert error["msg"] == "JSON decode error"
    r = client.post("/items", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_a_body_not_declared_json_is_not_read_as_json(client: TestClient) -> None:
    r = client.post("/items", data={"name": "pen", "price": "1"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "type": "model_attributes_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": "name=pen&price=1",
        }
    ]
    r = client.post("/items", content=b'{"name": "pen", "price": 1}')  # no Content-Type
    assert r.status_code == 422
    lenient = make_app()
    lenient.strict_content_type = False
    lenient_client = TestClient(lenient)
    assert lenient_client.post("/items", content=b'{"name": "pen", "price": 1}').status_code == 201
    strict = make_app()
    strict.reject_unsupported_media_type = True
    r = TestClient(strict).post("/items", data={"name": "pen", "price": "1"})
    assert r.status_code == 415
    assert "application/x-www-form-urlencoded" in r.json()["detail"]
    assert "application/json" in r.json()["detail"]
    r = client.post(
        "/items",
        content=b'{"name": "pen", "price": 1}',
        headers={"content-type": "application/vnd.api+json; charset=utf-8"},
    )
    assert r.status_code == 201


def test_list_of_models(client: TestClient) -> None:
    r = client.post("/many", json=[{"name": "a", "price": 1}, {"name": "b", "price": 2}])
    assert r.json() == {"total": 3}
    r = client.post("/many", json=[{"name": "a", "price": 1}, {"name": "b"}])
    assert r.json()["detail"][0]["loc"] == ["body", 1, "price"]


def test_multiple_body_params_are_embedded(client: TestClient) -> None:
    body = {"item": {"name": "a", "price": 1}, "user": {"username": "u"}, "importance": 3}
    r = client.put("/embed/9", json=body)
    assert r.json() == {**body, "item_id": 9, "item": {"name": "a", "price": 1.0}}
    r = client.put("/embed/9", json={"item": {"name": "a", "price": 1}, "importance": 0})
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["body", "user"] in locs and ["body", "importance"] in locs
    r = client.put("/embed/9", json=[1, 2])  # not an object: every field is missing
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in r.json()["detail"]} == {
        ("body", "item"),
        ("body", "user"),
        ("body", "importance"),
    }
    r = client.post("/single-embed", json={"item": {"name": "x", "price": 2}})
    assert r.json() == {"name": "x", "price": 2.0}


def test_optional_body(client: TestClient) -> None:
    assert client.post("/optional").json() == {"item": None}
    assert client.post("/optional", json={"name": "a", "price": 1}).json() == {
        "item": {"name": "a", "price": 1.0}
    }


def test_response_model_filters_output(client: TestClient) -> None:
    r = client.post("/users", json={"username": "ann", "password": "secret"})
    assert r.json() == {"username": "ann"}
    assert client.get("/users/dict").json() == {"username": "ann"}
    assert client.get("/users/list").json() == [{"username": "a"}, {"username": "b"}]
    assert client.get("/exclude").json() == {"name": "n", "price": 2.0}


def test_invalid_output_is_500_and_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="barq.app"):
        r = client.get("/bad-output")
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    assert "ResponseValidationError" in caplog.text and "response.price" in caplog.text


def test_dataclasses_and_nested_models(client: TestClient) -> None:
    assert client.get("/point").json() == {"x": 1, "y": 2}
    assert client.get("/plain").json() == {
        "model": {"name": "a", "price": 1.0},
        "point": {"x": 3, "y": 4},
        "list": [1, 2],
    }
    assert client.get("/no-model").json() == {"anything": "goes"}


def test_response_classes(client: TestClient) -> None:
    r = client.get("/bypass")
    assert (r.status_code, r.json(), r.headers["x-a"]) == (202, {"raw": True}, "1")
    r = client.get("/html")
    assert r.text == "<h1>hi</h1>" and r.headers["content-type"] == "text/html; charset=utf-8"
    r = client.get("/text")
    assert r.text == "hello" and r.headers["x-extra"] == "yes"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = client.get("/redirect", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/text?a=b%20c"
    assert client.get("/redirect").text == "hello"
    r = client.delete("/thing")
    assert r.status_code == 204 and r.content == b"" and "content-type" not in r.headers


def test_cookies_on_responses(client: TestClient) -> None:
    r = client.get("/cookie")
    lines = r.headers.getlist("set-cookie")
    assert any(
        line.startswith("session=abc") and "HttpOnly" in line and "Max-Age=60" in line
        for line in lines
    )
    assert any("SameSite=strict" in line and "Secure" in line for line in lines)
    assert any(line.startswith('old=""') and "Max-Age=0" in line for line in lines)
    assert r.cookies["session"] == "abc"


def test_injected_response_headers_cookies_status(client: TestClient) -> None:
    r = client.get("/sub-response")
    assert r.status_code == 203
    assert r.headers["x-from-handler"] == "1"
    assert r.cookies == {"sub": "yes"}
