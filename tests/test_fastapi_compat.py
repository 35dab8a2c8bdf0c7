"""The names FastAPI apps import and the behaviour they rely on, in Barq's words:
``FastAPI``, ``status``, ``barq.testclient``, security schemes with their OpenAPI
description, ``Security`` scopes, ``dependency_overrides``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Annotated

import pytest

from barq import Depends, FastAPI, Header, HTTPException, Request, Security, status
from barq.exceptions import BarqError, FastAPIError, ResponseValidationError
from barq.routing import APIRoute, Route
from barq.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
    OAuth2AuthorizationCodeBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    SecurityScopes,
)
from barq.testclient import TestClient


def test_fastapi_names() -> None:
    app = FastAPI()
    assert app.title == "FastAPI"
    assert app.openapi()["info"] == {"title": "FastAPI", "version": "0.1.0"}
    assert status.HTTP_404_NOT_FOUND == 404
    assert status.HTTP_422_UNPROCESSABLE_ENTITY == status.HTTP_422_UNPROCESSABLE_CONTENT == 422
    assert status.WS_1008_POLICY_VIOLATION == 1008
    assert FastAPIError is BarqError and APIRoute is Route


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_http_schemes_answer_401_with_their_challenge() -> None:
    app = FastAPI()
    basic = HTTPBasic(realm="admin")
    bearer = HTTPBearer(bearerFormat="JWT")
    digest = HTTPDigest(auto_error=False)

    @app.get("/basic")
    def read_basic(c: Annotated[HTTPBasicCredentials, Depends(basic)]) -> dict:
        return {"user": c.username, "password": c.password}

    @app.get("/bearer")
    def read_bearer(c: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> dict:
        return {"scheme": c.scheme, "token": c.credentials}

    @app.get("/digest")
    def read_digest(c: Annotated[HTTPAuthorizationCredentials | None, Depends(digest)]) -> dict:
        return {"credentials": c.credentials if c else None}

    client = TestClient(app)
    assert client.get("/basic", headers=_basic("ann", "p:w")).json() == {
        "user": "ann",
        "password": "p:w",
    }
    for headers in ({}, {"Authorization": "Basic !!!"}, {"Authorization": "Bearer x"}):
        r = client.get("/basic", headers=headers)
        assert r.status_code == 401, headers
        assert r.json() == {"detail": "Not authenticated"}
        assert r.headers["www-authenticate"] == 'Basic realm="admin"'
    no_colon = base64.b64encode(b"annpw").decode()
    assert client.get("/basic", headers={"Authorization": f"Basic {no_colon}"}).status_code == 401
    assert client.get("/bearer", headers={"Authorization": "Bearer t0k"}).json() == {
        "scheme": "Bearer",
        "token": "t0k",
    }
    r = client.get("/bearer", headers={"Authorization": "Basic t0k"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/digest").json() == {"credentials": None}  # auto_error=False
    assert client.get("/digest", headers={"Authorization": "Digest abc"}).json() == {
        "credentials": "abc"
    }


def test_api_keys_in_header_query_and_cookie() -> None:
    app = FastAPI()
    header, query, cookie = (
        APIKeyHeader(name="X-Key"),
        APIKeyQuery(name="key"),
        APIKeyCookie(name="session", description="the session cookie"),
    )

    @app.get("/all")
    def all_keys(
        h: Annotated[str, Depends(header)],
        q: Annotated[str, Depends(query)],
        c: Annotated[str, Depends(cookie)],
    ) -> dict:
        return {"h": h, "q": q, "c": c}

    client = TestClient(app)
    r = client.get("/all?key=2", headers={"x-key": "1", "cookie": "session=3"})
    assert r.json() == {"h": "1", "q": "2", "c": "3"}
    r = client.get("/all?key=2", headers={"x-key": "1"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "APIKey"
    document = app.openapi()
    assert document["components"]["securitySchemes"] == {
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Key"},
        "APIKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
        "APIKeyCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": "session",
            "description": "the session cookie",
        },
    }
    assert document["paths"]["/all"]["get"]["security"] == [
        {"APIKeyHeader": []},
        {"APIKeyQuery": []},
        {"APIKeyCookie": []},
    ]


def test_oauth2_password_flow_with_scopes() -> None:
    oauth2 = OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read you", "items": "Items"})
    app = FastAPI()

    def current_user(
        security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2)]
    ) -> dict:
        granted = token.split(",")
        for scope in security_scopes.scopes:
            if scope not in granted:
                raise HTTPException(
                    401,
                    "Not enough permissions",
                    headers={"WWW-Authenticate": f'Bearer scope="{security_scopes.scope_str}"'},
                )
        return {"scopes": security_scopes.scopes}

    @app.post("/token")
    def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
        if form.password != "secret":
            raise HTTPException(400, "Incorrect username or password")
        return {"access_token": ",".join(form.scopes), "token_type": "bearer"}

    @app.get("/me")
    def me(user: Annotated[dict, Security(current_user, scopes=["me"])]) -> dict:
        return user

    @app.get("/me/items")
    def my_items(user: Annotated[dict, Security(current_user, scopes=["items", "me"])]) -> dict:
        return user

    client = TestClient(app)
    r = client.post("/token", data={"username": "ann", "password": "secret", "scope": "me"})
    token = r.json()["access_token"]
    assert r.json() == {"access_token": "me", "token_type": "bearer"}
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/me", headers=auth).json() == {"scopes": ["me"]}
    r = client.get("/me/items", headers=auth)
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer scope="items me"'
    r = client.get("/me")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    # a required form field missing from the request is a 422, not a crash
    r = client.post("/token", data={"username": "ann"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "password"]

    document = app.openapi()
    assert document["components"]["securitySchemes"]["OAuth2PasswordBearer"] == {
        "type": "oauth2",
        "flows": {
            "password": {"tokenUrl": "token", "scopes": {"me": "Read you", "items": "Items"}}
        },
    }
    assert document["paths"]["/me/items"]["get"]["security"] == [
        {"OAuth2PasswordBearer": ["items", "me"]}
    ]
    form = document["components"]["schemas"]["Body_login_token_post"]
    assert form["required"] == ["username", "password"]
    assert form["properties"]["password"]["format"] == "password"
    assert "default" not in form["properties"]["client_id"]  # no "default": null


def test_strict_password_form_and_authorization_code_bearer() -> None:
    app = FastAPI()
    code = OAuth2AuthorizationCodeBearer(authorizationUrl="/authorize", tokenUrl="/token")

    @app.post("/token")
    def login(form: Annotated[OAuth2PasswordRequestFormStrict, Depends()]) -> dict:
        return {"grant_type": form.grant_type}

    @app.get("/code")
    def with_code(token: Annotated[str, Depends(code)]) -> dict:
        return {"token": token}

    client = TestClient(app)
    assert client.post("/token", data={"username": "a", "password": "b"}).status_code == 422
    r = client.post("/token", data={"username": "a", "password": "b", "grant_type": "other"})
    assert r.status_code == 422
    r = client.post("/token", data={"username": "a", "password": "b", "grant_type": "password"})
    assert r.json() == {"grant_type": "password"}
    assert client.get("/code", headers={"Authorization": "Bearer c"}).json() == {"token": "c"}
    flows = app.openapi()["components"]["securitySchemes"]["OAuth2AuthorizationCodeBearer"]
    assert flows["flows"]["authorizationCode"]["authorizationUrl"] == "/authorize"


def test_dependency_overrides_replace_at_any_depth_and_can_be_cleared() -> None:
    async def get_db() -> str:
        return "real-db"

    def get_repo(db: Annotated[str, Depends(get_db)]) -> str:
        return f"repo({db})"

    app = FastAPI()

    @app.get("/items")
    def items(repo: Annotated[str, Depends(get_repo)], db: Annotated[str, Depends(get_db)]) -> dict:
        return {"repo": repo, "db": db}

    client = TestClient(app)
    assert client.get("/items").json() == {"repo": "repo(real-db)", "db": "real-db"}

    def fake_db(prefix: str = "fake") -> str:  # an override brings its own parameters
        return f"{prefix}-db"

    app.dependency_overrides[get_db] = fake_db
    assert client.get("/items?prefix=test").json() == {"repo": "repo(test-db)", "db": "test-db"}
    app.dependency_overrides[get_repo] = lambda: "stub-repo"
    assert client.get("/items").json() == {"repo": "stub-repo", "db": "fake-db"}
    app.dependency_overrides.clear()
    assert client.get("/items").json() == {"repo": "repo(real-db)", "db": "real-db"}


@pytest.mark.parametrize("scheme", [HTTPBasic(), OAuth2PasswordBearer(tokenUrl="t")])
def test_auto_error_false_gives_none(scheme: object) -> None:
    app = FastAPI()

    @app.get("/")
    def root(value: Annotated[object, Depends(scheme)]) -> dict:  # type: ignore[call-overload]
        return {"none": value is None}

    assert TestClient(app).get("/").status_code == 401
    scheme.auto_error = False  # type: ignore[attr-defined]
    assert TestClient(app).get("/").json() == {"none": True}


def test_parameter_models_for_query_headers_and_cookies() -> None:
    from typing import Literal

    from pydantic import BaseModel, Field

    from barq import Cookie, Query

    class Filters(BaseModel):
        model_config = {"extra": "forbid"}
        limit: int = Field(100, gt=0, le=100)
        order_by: Literal["created_at", "updated_at"] = "created_at"
        tags: list[str] = []

    class Common(BaseModel):
        save_data: bool
        x_tag: list[str] = []

    class Session(BaseModel):
        session_id: str

    app = FastAPI()

    @app.get("/items")
    def items(filters: Annotated[Filters, Query()]) -> Filters:
        return filters

    @app.get("/headers")
    def headers(common: Annotated[Common, Header()]) -> Common:
        return common

    @app.get("/cookies")
    def cookies(session: Annotated[Session, Cookie()]) -> Session:
        return session

    client = TestClient(app)
    assert client.get("/items?limit=5&tags=a&tags=b").json() == {
        "limit": 5,
        "order_by": "created_at",
        "tags": ["a", "b"],
    }
    errors = client.get("/items?limit=500&order_by=x").json()["detail"]
    assert [(e["type"], e["loc"]) for e in errors] == [
        ("less_than_equal", ["query", "limit"]),
        ("literal_error", ["query", "order_by"]),
    ]
    r = client.get("/items?tool=plumbus")  # extra="forbid" is honoured
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "type": "extra_forbidden",
            "loc": ["query", "tool"],
            "msg": "Extra inputs are not permitted",
            "input": "plumbus",
        }
    ]
    r = client.get("/headers", headers=[("save-data", "true"), ("x-tag", "1"), ("x-tag", "2")])
    assert r.json() == {"save_data": True, "x_tag": ["1", "2"]}
    missing = client.get("/headers").json()["detail"][0]
    assert (missing["type"], missing["loc"]) == ("missing", ["header", "save_data"])
    assert client.get("/cookies", cookies={"session_id": "s1"}).json() == {"session_id": "s1"}
    assert client.get("/cookies").status_code == 422
    params = app.openapi()["paths"]["/headers"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in params] == [
        ("save-data", "header", True),
        ("x-tag", "header", False),
    ]
    assert params[1]["schema"] == {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "title": "X Tag",
    }


def test_testclient_raises_server_exceptions_and_sends_fastapi_defaults() -> None:
    app = FastAPI()

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("a bug")

    @app.get("/ua")
    def ua(request: Request) -> dict:
        return {"ua": request.headers.get("user-agent")}

    with pytest.raises(RuntimeError, match="a bug"):
        TestClient(app).get("/boom")
    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert (r.status_code, r.text) == (500, "Internal Server Error")  # FastAPI's plain text
    r = TestClient(app, raise_server_exceptions=False).get(
        "/boom", headers={"accept": "application/json"}
    )
    assert r.status_code == 500 and r.json() == {"detail": "Internal Server Error"}
    client = TestClient(app)
    assert client.get("/ua").json() == {"ua": "testclient"}
    client.cookies.set("theme", "dark")
    assert client.cookies["theme"] == "dark" and dict(client.cookies) == {"theme": "dark"}
    del client.cookies["theme"]
    assert client.cookies == {}


def test_jsonable_encoder_and_router_responses() -> None:
    import dataclasses
    import datetime
    import enum
    import uuid

    from pydantic import BaseModel, Field

    from barq import APIRouter
    from barq.encoders import jsonable_encoder

    class Color(enum.Enum):
        RED = "red"

    class Item(BaseModel):
        name: str
        tags: set[str] = set()
        seen: datetime.date | None = None
        alias_field: int = Field(0, alias="aliasField")

    @dataclasses.dataclass
    class Point:
        x: int
        color: Color

    item = Item(name="a", tags={"t"}, seen=datetime.date(2026, 12, 1), aliasField=3)
    assert jsonable_encoder(item) == {
        "name": "a",
        "tags": ["t"],
        "seen": "2026-12-01",
        "aliasField": 3,
    }
    assert jsonable_encoder(item, exclude_unset=True, by_alias=False, exclude={"tags"}) == {
        "name": "a",
        "seen": "2026-12-01",
        "alias_field": 3,
    }
    uid = uuid.UUID(int=1)
    assert jsonable_encoder({"p": Point(1, Color.RED), "u": uid, "n": None}, exclude_none=True) == {
        "p": {"x": 1, "color": "red"},
        "u": str(uid),
    }
    assert jsonable_encoder(Color.RED, custom_encoder={Color: lambda c: c.name}) == "RED"

    router = APIRouter()

    @router.get("/x")
    def x() -> dict:
        return {}

    app = FastAPI()
    app.include_router(router, prefix="/r", responses={404: {"description": "Not found"}})
    responses = app.openapi()["paths"]["/r/x"]["get"]["responses"]
    assert responses["404"] == {"description": "Not found"}


def test_testclient_basic_auth() -> None:
    app = FastAPI()
    basic = HTTPBasic()

    @app.get("/who")
    def who(c: Annotated[HTTPBasicCredentials, Depends(basic)]) -> dict:
        return {"user": c.username}

    assert TestClient(app).get("/who", auth=("ann", "pw")).json() == {"user": "ann"}


def test_path_operations_that_yield_stream_json_lines_and_server_sent_events() -> None:
    from collections.abc import AsyncIterable, Iterable

    from pydantic import BaseModel

    from barq.responses import StreamingResponse
    from barq.sse import EventSourceResponse, ServerSentEvent

    class Item(BaseModel):
        name: str
        price: float

    stock = [Item(name="pen", price=1), Item(name="cup", price=2.5)]
    events: list[str] = []

    def session() -> Iterator[str]:
        events.append("open")
        yield "db"
        events.append("closed")

    app = FastAPI()

    @app.get("/items")
    async def items(db: Annotated[str, Depends(session)]) -> AsyncIterable[Item]:
        for item in stock:
            events.append(f"yield {item.name} ({db})")
            yield item

    @app.get("/plain")
    def plain():  # no annotation: items are encoded as they are
        yield {"n": 1}
        yield [2]

    @app.get("/bad")
    def bad() -> Iterable[Item]:
        yield {"name": "pen"}  # no price: a response validation error, not bad data

    @app.get("/events", response_class=EventSourceResponse)
    async def updates(
        last_event_id: Annotated[int | None, Header()] = None,
    ) -> AsyncIterable[ServerSentEvent]:
        yield ServerSentEvent(comment="stock updates")
        start = 0 if last_event_id is None else last_event_id + 1
        for i, item in enumerate(stock[start:], start):
            yield ServerSentEvent(data=item, event="item", id=str(i), retry=1000)
        yield ServerSentEvent(raw_data="[DONE]")

    @app.get("/events/items", response_class=EventSourceResponse)
    def plain_events() -> Iterable[Item]:
        yield from stock

    @app.get("/raw", response_class=StreamingResponse)
    def raw():
        yield b"ab"
        yield "cd"

    client = TestClient(app)
    r = client.get("/items")
    assert r.headers["content-type"] == "application/jsonl"
    assert r.text == '{"name":"pen","price":1.0}\n{"name":"cup","price":2.5}\n'
    # the generator dependency stays open until the stream has ended
    assert events == ["open", "yield pen (db)", "yield cup (db)", "closed"]
    assert client.get("/plain").text == '{"n":1}\n[2]\n'
    with pytest.raises(ResponseValidationError):
        client.get("/bad")

    r = client.get("/events")
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-accel-buffering"] == "no"
    assert r.text == (
        ": stock updates\n\n"
        'event: item\ndata: {"name":"pen","price":1.0}\nid: 0\nretry: 1000\n\n'
        'event: item\ndata: {"name":"cup","price":2.5}\nid: 1\nretry: 1000\n\n'
        "data: [DONE]\n\n"
    )
    resumed = client.get("/events", headers={"last-event-id": "0"}).text
    assert '"pen"' not in resumed and '"cup"' in resumed
    assert client.get("/events/items").text == (
        'data: {"name":"pen","price":1.0}\n\ndata: {"name":"cup","price":2.5}\n\n'
    )
    assert client.get("/raw").content == b"abcd"
    with pytest.raises(ValueError, match="single line"):
        ServerSentEvent(event="a\nb")
    with pytest.raises(ValueError, match="raw_data"):
        ServerSentEvent(data=1, raw_data="1")

    doc = app.openapi()["paths"]
    assert doc["/items"]["get"]["responses"]["200"]["content"] == {
        "application/jsonl": {"itemSchema": {"$ref": "#/components/schemas/Item"}}
    }
    sse_item = doc["/events/items"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert sse_item["itemSchema"]["properties"]["data"]["contentSchema"] == {
        "$ref": "#/components/schemas/Item"
    }


def test_a_stream_the_client_leaves_closes_the_generator_and_the_dependencies(serve) -> None:
    import socket
    import threading

    closed = threading.Event()
    finished = threading.Event()

    def resource() -> Iterator[str]:
        yield "r"
        finished.set()

    app = FastAPI()

    @app.get("/forever")
    def forever(res: Annotated[str, Depends(resource)]):
        try:
            n = 0
            while True:
                n += 1
                yield {"n": n, "pad": "x" * 4000}
        finally:
            closed.set()

    with serve(app, threads=2) as server:
        sock = socket.create_connection(server.addresses[0], timeout=5)
        sock.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200" in sock.recv(4096)
        sock.close()
        assert closed.wait(10) and finished.wait(10)


def test_content_type_rules_as_fastapi_and_the_stricter_option() -> None:
    from pydantic import BaseModel

    from barq import Form

    class Item(BaseModel):
        name: str

    app = FastAPI()

    @app.post("/json")
    def take_json(item: Item) -> Item:
        return item

    @app.post("/form")
    def take_form(name: Annotated[str, Form()]) -> dict:
        return {"name": name}

    client = TestClient(app)
    assert client.post("/json", json={"name": "a"}).json() == {"name": "a"}
    body = b'{"name": "a"}'
    assert client.post("/json", content=body, headers={"content-type": "application/x+json"}).json()
    r = client.post("/json", content=body)  # no Content-Type: not JSON (strict_content_type)
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "model_attributes_type"
    r = client.post("/json", content=body, headers={"content-type": "text/plain"})
    assert r.status_code == 422 and r.json()["detail"][0]["input"] == '{"name": "a"}'
    r = client.post("/form", json={"name": "a"})  # read as an empty form
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]

    lenient = FastAPI(strict_content_type=False)
    lenient.post("/json")(take_json)
    assert TestClient(lenient).post("/json", content=body).json() == {"name": "a"}

    strict = FastAPI(reject_unsupported_media_type=True)
    strict.post("/json")(take_json)
    strict.post("/form")(take_form)
    strict_client = TestClient(strict)
    r = strict_client.post("/json", content=body, headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    assert strict_client.post("/form", json={"name": "a"}).status_code == 415


def test_streaming_yield_docs_example(load) -> None:
    example = load("streaming_yield")
    client = TestClient(example.app)
    lines = client.get("/quotes").text.splitlines()
    assert lines == ['{"symbol":"ACME","price":12.5}', '{"symbol":"INIT","price":3.0}']
    events = client.get("/quotes/live", headers={"last-event-id": "0"}).text
    assert events == (
        'event: quote\ndata: {"symbol":"INIT","price":3.0}\nid: 1\n\nevent: end\ndata: [DONE]\n\n'
    )


def test_function_scoped_dependencies_finish_before_the_response() -> None:
    events: list[str] = []

    def per_call() -> Iterator[str]:
        events.append("enter")
        yield "value"
        events.append("exit")

    app = FastAPI()

    @app.get("/")
    def root(v: Annotated[str, Depends(per_call, scope="function")]) -> dict:
        events.append("handler")
        return {"v": v}

    @app.get("/stream")
    def stream(v: Annotated[str, Depends(per_call, scope="function")]):
        events.append("handler")
        yield {"v": v}
        events.append("streamed")

    client = TestClient(app)
    assert client.get("/").json() == {"v": "value"}
    assert events == ["enter", "handler", "exit"]
    events.clear()
    assert client.get("/stream").text == '{"v":"value"}\n'
    assert events == ["enter", "exit", "handler", "streamed"]  # finished before streaming
    with pytest.raises(ValueError, match="scope"):
        Depends(per_call, scope="session")


def test_response_model_include_exclude_openapi_extra_and_timedelta() -> None:
    import datetime

    from pydantic import BaseModel

    class Item(BaseModel):
        name: str
        description: str | None = None
        price: float = 1.0

    app = FastAPI()

    @app.get("/name", response_model=Item, response_model_include=["name", "price"])
    def name() -> Item:
        return Item(name="pen", description="blue")

    @app.get("/public", response_model=Item, response_model_exclude={"description"})
    def public() -> Item:
        return Item(name="pen", description="secret")

    @app.get("/wait", openapi_extra={"x-aperture": "open", "responses": {"200": {"x-a": 1}}})
    def wait() -> dict:
        return {"after": datetime.timedelta(minutes=5)}

    client = TestClient(app)
    assert client.get("/name").json() == {"name": "pen", "price": 1.0}
    assert client.get("/public").json() == {"name": "pen", "price": 1.0}
    assert client.get("/wait").json() == {"after": 300.0}  # seconds, as FastAPI's encoder
    operation = app.openapi()["paths"]["/wait"]["get"]
    assert operation["x-aperture"] == "open"
    assert operation["responses"]["200"]["x-a"] == 1
    assert operation["responses"]["200"]["description"] == "Successful Response"


def test_request_body_json_and_form_can_be_awaited() -> None:
    from barq.responses import PlainTextResponse

    app = FastAPI()

    @app.post("/raw")
    async def raw(request: Request) -> PlainTextResponse:
        body = await request.body()
        return PlainTextResponse(f"{len(body)}:{len(request.body)}")

    @app.post("/json")
    async def as_json(request: Request) -> dict:
        data = await request.json()
        return {"keys": sorted(data), "same": request.json() is data}

    @app.post("/sync-json")
    def sync_json(request: Request) -> dict:
        return {"n": len(request.json())}

    @app.post("/form")
    async def as_form(request: Request) -> dict:
        form = await request.form()
        return {"tags": form.getlist("tag"), "name": form["name"]}

    client = TestClient(app)
    assert client.post("/raw", content=b"hello").text == "5:5"
    assert client.post("/json", json={"b": 1, "a": 2}).json() == {"keys": ["a", "b"], "same": True}
    assert client.post("/sync-json", json=[1, 2, 3]).json() == {"n": 3}
    r = client.post("/form", data={"name": "x", "tag": ["a", "b"]})
    assert r.json() == {"tags": ["a", "b"], "name": "x"}


def test_docs_pages_of_your_own() -> None:
    from barq.openapi.docs import (
        get_redoc_html,
        get_swagger_ui_html,
        get_swagger_ui_oauth2_redirect_html,
    )

    app = FastAPI(docs_url=None, redoc_url=None, swagger_ui_parameters={"syntaxHighlight": False})
    assert app.swagger_ui_oauth2_redirect_url == "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def docs() -> object:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "",
            title="Shop - Swagger UI",
            oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
            init_oauth={"clientId": "shop"},
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(app.swagger_ui_oauth2_redirect_url, include_in_schema=False)
    def redirect() -> object:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> object:
        return get_redoc_html(openapi_url="/openapi.json", title="Shop", redoc_js_url="/r.js")

    client = TestClient(app)
    page = client.get("/docs").text
    assert "<title>Shop - Swagger UI</title>" in page
    assert 'src="/static/swagger-ui-bundle.js"' in page and 'href="/static/swagger-ui.css"' in page
    assert '"syntaxHighlight": false,' in page and '"dom_id": "#swagger-ui",' in page
    assert 'initOAuth({"clientId": "shop"})' in page
    assert "window.opener.swaggerUIRedirectOauth2" in client.get("/docs/oauth2-redirect").text
    assert 'src="/r.js"' in client.get("/redoc").text


def test_trusted_host_and_https_redirect_middleware() -> None:
    from barq.middleware.httpsredirect import HTTPSRedirectMiddleware
    from barq.middleware.trustedhost import TrustedHostMiddleware

    app = FastAPI()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["www.example.com", "*.api.example"])

    @app.get("/")
    def root() -> dict:
        return {"ok": True}

    client = TestClient(app, base_url="http://www.example.com", follow_redirects=False)
    assert client.get("/").json() == {"ok": True}
    assert TestClient(app, base_url="http://v1.api.example").get("/").status_code == 200
    evil = TestClient(app, base_url="http://evil.test").get("/")
    assert (evil.status_code, evil.text) == (400, "Invalid host header")
    bare = TestClient(app, base_url="http://example.com", follow_redirects=False).get("/?a=1")
    assert bare.status_code == 301 and bare.headers["location"] == "http://www.example.com/?a=1"
    with pytest.raises(ValueError, match="wildcard"):
        TrustedHostMiddleware(lambda r: r, allowed_hosts=["exa*mple.com"])  # type: ignore[arg-type, return-value]

    secure = FastAPI()
    secure.add_middleware(HTTPSRedirectMiddleware)
    secure.post("/pay")(root)
    r = TestClient(secure, follow_redirects=False).post("/pay?x=1")
    assert r.status_code == 307 and r.headers["location"] == "https://testserver/pay?x=1"
    assert TestClient(secure, base_url="https://testserver").post("/pay").json() == {"ok": True}


def test_docs_are_not_blocked_by_app_dependencies() -> None:
    def api_key(x_key: Annotated[str, Header()]) -> None:
        if x_key != "k":
            raise HTTPException(403)

    app = FastAPI(dependencies=[Depends(api_key)])

    @app.get("/items")
    def items() -> list:
        return []

    client = TestClient(app)
    assert client.get("/items").status_code == 422
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200


def test_app_and_router_options_for_the_document_and_responses() -> None:
    from barq import APIRouter
    from barq.responses import HTMLResponse, PlainTextResponse

    def unique_id(route: APIRoute) -> str:
        return f"{route.tags[0] if route.tags else 'default'}-{route.name}"

    app = FastAPI(
        summary="A shop",
        servers=[{"url": "https://api.example.com", "description": "production"}],
        default_response_class=PlainTextResponse,
        generate_unique_id_function=unique_id,
        terms_of_service="https://example.com/terms",
        contact={"name": "Ann"},
        license_info={"name": "MIT"},
    )

    @app.get("/hello")
    def hello() -> str:
        return "hi"

    @app.get("/page", response_class=HTMLResponse)
    def page() -> str:
        return "<b>hi</b>"

    router = APIRouter(tags=["items"])

    @router.get("/items")
    def list_items() -> str:
        return "none"

    app.include_router(router)
    client = TestClient(app)
    assert client.get("/hello").headers["content-type"].startswith("text/plain")
    assert client.get("/page").headers["content-type"].startswith("text/html")
    assert client.get("/items").text == "none"
    doc = app.openapi()
    assert doc["info"]["summary"] == "A shop"
    assert doc["info"]["termsOfService"] == "https://example.com/terms"
    assert doc["info"]["contact"] == {"name": "Ann"} and doc["info"]["license"] == {"name": "MIT"}
    assert doc["servers"] == [{"url": "https://api.example.com", "description": "production"}]
    assert doc["paths"]["/items"]["get"]["operationId"] == "items-list_items"
    assert doc["paths"]["/hello"]["get"]["operationId"] == "default-hello"

    proxied = FastAPI(root_path="/api/v1")
    proxied.get("/x")(hello)
    assert proxied.openapi()["servers"] == [{"url": "/api/v1"}]
    assert '"url": "/api/v1/openapi.json"' in TestClient(proxied).get("/docs").text


def test_redirect_response_class_answers_307_and_is_documented_without_content() -> None:
    from barq import Body
    from barq.responses import RedirectResponse

    app = FastAPI()

    @app.get("/docs-site", response_class=RedirectResponse)
    def go() -> str:
        return "https://example.com/docs"

    @app.post("/upload")
    def upload(note: Annotated[str | None, Body()] = None) -> dict:  # an optional body
        return {}

    r = TestClient(app, follow_redirects=False).get("/docs-site")
    assert r.status_code == 307 and r.headers["location"] == "https://example.com/docs"
    paths = app.openapi()["paths"]
    assert paths["/docs-site"]["get"]["responses"] == {
        "307": {"description": "Successful Response"}
    }
    assert "required" not in paths["/upload"]["post"]["requestBody"]


def test_callbacks_webhooks_examples_and_one_schema_per_model() -> None:
    from pydantic import BaseModel, HttpUrl, computed_field

    from barq import APIRouter, Body, Query

    class Invoice(BaseModel):
        id: str
        total: float

    class Event(BaseModel):
        description: str

    class Priced(BaseModel):
        price: float

        @computed_field  # type: ignore[prop-decorator]
        @property
        def with_tax(self) -> float:
            return self.price * 1.2

    callbacks = APIRouter()

    @callbacks.post("{$callback_url}/invoices/{$request.body.id}")
    def invoice_notification(body: Event) -> dict:
        return {}

    app = FastAPI()

    @app.post("/invoices", callbacks=callbacks.routes)
    def create_invoice(invoice: Invoice, callback_url: HttpUrl | None = None) -> dict:
        return {"url": str(callback_url)}

    @app.webhooks.post("new-subscription")
    def new_subscription(body: Event) -> None:
        """Sent when someone subscribes."""

    @app.get("/search")
    def search(
        q: Annotated[str, Query(openapi_examples={"short": {"summary": "A word", "value": "pen"}})],
    ) -> list:
        return []

    @app.post("/priced")
    def priced(
        item: Annotated[Priced, Body(openapi_examples={"cheap": {"value": {"price": 1}}})],
    ) -> Priced:
        return item

    client = TestClient(app)
    r = client.post(
        "/invoices?callback_url=https://client.example/hook", json={"id": "1", "total": 2}
    )
    assert r.json() == {"url": "https://client.example/hook"}  # a URL is a query parameter
    assert (
        client.post("/invoices?callback_url=not-a-url", json={"id": "1", "total": 2}).status_code
        == 422
    )
    assert client.post("{$callback_url}/invoices/1", json={}).status_code == 404  # never served

    doc = app.openapi()
    operation = doc["paths"]["/invoices"]["post"]
    callback = operation["callbacks"]["invoice_notification"][
        "{$callback_url}/invoices/{$request.body.id}"
    ]
    assert callback["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Event"
    }
    hook = doc["webhooks"]["new-subscription"]["post"]
    assert hook["summary"] == "New Subscription"
    assert hook["description"] == "Sent when someone subscribes."
    param = doc["paths"]["/search"]["get"]["parameters"][0]
    assert param["examples"] == {"short": {"summary": "A word", "value": "pen"}}
    media = doc["paths"]["/priced"]["post"]["requestBody"]["content"]["application/json"]
    assert media["examples"] == {"cheap": {"value": {"price": 1}}}
    assert {"Priced-Input", "Priced-Output"} <= set(doc["components"]["schemas"])

    single = FastAPI(separate_input_output_schemas=False)
    single.post("/priced")(priced)
    schemas = single.openapi()["components"]["schemas"]
    assert "Priced" in schemas and "Priced-Output" not in schemas


def test_form_model_with_extra_forbid_refuses_unknown_fields() -> None:
    from pydantic import BaseModel

    from barq import Form

    class Login(BaseModel):
        model_config = {"extra": "forbid"}
        username: str
        password: str

    app = FastAPI()

    @app.post("/login")
    def login(data: Annotated[Login, Form()]) -> Login:
        return data

    client = TestClient(app)
    ok = client.post("/login", data={"username": "a", "password": "b"})
    assert ok.json() == {"username": "a", "password": "b"}
    r = client.post("/login", data={"username": "a", "password": "b", "extra": "x"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "type": "extra_forbidden",
            "loc": ["body", "extra"],
            "msg": "Extra inputs are not permitted",
            "input": "x",
        }
    ]


def test_default_exception_handlers_and_a_custom_openapi_document() -> None:
    from barq.exception_handlers import (
        http_exception_handler,
        request_validation_exception_handler,
    )
    from barq.exceptions import RequestValidationError
    from barq.openapi.utils import get_openapi

    seen: list[str] = []
    app = FastAPI()

    @app.exception_handler(HTTPException)
    async def log_http(request: Request, exc: HTTPException) -> object:
        seen.append(f"http {exc.status_code}")
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def log_invalid(request: Request, exc: RequestValidationError) -> object:
        seen.append("invalid")
        return await request_validation_exception_handler(request, exc)

    @app.get("/items/{item_id}")
    def read(item_id: int) -> dict:
        if item_id == 3:
            raise HTTPException(418, "Nope! I don't like 3.")
        return {"item_id": item_id}

    def custom_openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title="Custom", version="2.5.0", routes=app.routes)
        schema["info"]["x-logo"] = {"url": "https://example.com/logo.png"}
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    client = TestClient(app)
    r = client.get("/items/3")
    assert (r.status_code, r.json()) == (418, {"detail": "Nope! I don't like 3."})
    assert client.get("/items/x").status_code == 422
    assert seen == ["http 418", "invalid"]
    info = client.get("/openapi.json").json()["info"]
    assert info == {
        "title": "Custom",
        "version": "2.5.0",
        "x-logo": {"url": "https://example.com/logo.png"},
    }
