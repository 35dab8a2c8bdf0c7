"""WebSocket endpoints through TestClient: FastAPI's API, parameters, dependencies,
refusals, routers and the OpenAPI document (the server side is in
test_server_websockets.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest

from barq import (
    APIRouter,
    Barq,
    Cookie,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    status,
)
from barq.exceptions import BarqError
from barq.testing import TestClient, WebSocketDenialResponse
from barq.websockets import WebSocketState

pytestmark = pytest.mark.timeout(60)


def test_async_echo_with_json_and_the_disconnect_code() -> None:
    app = Barq()
    seen: list[Any] = []

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                data = await websocket.receive_json()
                await websocket.send_json({"echo": data})
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    client = TestClient(app)
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"a": [1, 2]})
        assert ws.receive_json() == {"echo": {"a": [1, 2]}}
        ws.close(4001)
    assert seen == [4001]


def test_def_endpoint_iterates_and_sends_without_await() -> None:
    app = Barq()

    @app.websocket("/upper")
    def upper(websocket: WebSocket) -> None:
        websocket.accept()
        for text in websocket.iter_text():
            websocket.send_text(text.upper())
        assert websocket.client_state is WebSocketState.DISCONNECTED

    with TestClient(app).websocket_connect("/upper") as ws:
        for word in ("a", "bc", "déf"):
            ws.send_text(word)
            assert ws.receive_text() == word.upper()


def test_async_iter_bytes_and_binary_json() -> None:
    app = Barq()

    @app.websocket("/bytes")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async for data in websocket.iter_bytes():
            await websocket.send_bytes(data[::-1])
            await websocket.send_json({"n": len(data)}, mode="binary")

    with TestClient(app).websocket_connect("/bytes") as ws:
        ws.send_bytes(b"abc")
        assert ws.receive_bytes() == b"cba"
        assert ws.receive_json(mode="binary") == {"n": 3}


def test_path_query_header_and_cookie_parameters() -> None:
    app = Barq()

    @app.websocket("/items/{item_id}/ws")
    async def endpoint(
        websocket: WebSocket,
        item_id: Annotated[int, Path(ge=1)],
        q: Annotated[int | None, Query()] = None,
        session: Annotated[str | None, Cookie()] = None,
        x_client: Annotated[str, Header()] = "none",
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"item": item_id, "q": q, "session": session, "client": x_client})
        await websocket.close()

    client = TestClient(app)
    with client.websocket_connect(
        "/items/3/ws?q=5", headers={"X-Client": "tests"}, cookies={"session": "s1"}
    ) as ws:
        assert ws.receive_json() == {"item": 3, "q": 5, "session": "s1", "client": "tests"}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1000
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/items/0/ws"):
        pass
    assert denied.value.status_code == 403
    assert denied.value.response.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_dependencies_with_teardown_sync_and_async() -> None:
    app = Barq()
    log: list[str] = []

    def database() -> Iterator[str]:
        log.append("db open")
        yield "db"
        log.append("db closed")

    async def cache() -> AsyncIterator[str]:
        log.append("cache open")
        yield "cache"
        log.append("cache closed")

    @app.websocket("/ws")
    async def endpoint(
        websocket: WebSocket,
        db: Annotated[str, Depends(database)],
        kv: Annotated[str, Depends(cache)],
    ) -> None:
        await websocket.accept()
        await websocket.send_text(f"{db}+{kv}")
        await websocket.receive_text()

    with TestClient(app).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "db+cache"
        assert log == ["db open", "cache open"]
        ws.send_text("bye")
    assert log == ["db open", "cache open", "cache closed", "db closed"]


def test_websocket_exception_and_http_exception_in_a_dependency() -> None:
    app = Barq()

    def token(token: str | None = None) -> str:
        if token is None:
            raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="no token")
        if token == "bad":
            raise HTTPException(401, "bad token", headers={"www-authenticate": "Bearer"})
        return token

    @app.websocket("/secure")
    async def endpoint(websocket: WebSocket, who: Annotated[str, Depends(token)]) -> None:
        await websocket.accept()
        await websocket.send_text(who)
        raise WebSocketException(code=4003, reason="done with you")

    client = TestClient(app)
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/secure"):
        pass
    assert denied.value.status_code == 403
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/secure?token=bad"),
    ):
        pass
    assert denied.value.status_code == 401
    assert denied.value.response.headers["www-authenticate"] == "Bearer"
    with client.websocket_connect("/secure?token=ann") as ws:
        assert ws.receive_text() == "ann"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert (closed.value.code, closed.value.reason) == (4003, "done with you")


def test_subprotocols_and_accept_headers() -> None:
    app = Barq()

    @app.websocket("/chat")
    async def chat(websocket: WebSocket) -> None:
        chosen = "v2" if "v2" in websocket.subprotocols else None
        await websocket.accept(subprotocol=chosen, headers=[(b"x-room", b"lobby")])
        await websocket.send_text(",".join(websocket.subprotocols))

    with TestClient(app).websocket_connect("/chat", subprotocols=["v1", "v2"]) as ws:
        assert ws.accepted_subprotocol == "v2"
        assert ("x-room", "lobby") in ws.extra_headers
        assert ws.receive_text() == "v1,v2"


def test_close_before_accept_and_unknown_paths_are_refused() -> None:
    app = Barq()

    @app.websocket("/closed")
    async def closed(websocket: WebSocket) -> None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)

    client = TestClient(app)
    for path, code in (("/closed", 403), ("/missing", 404)):
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(path):
            pass
        assert isinstance(refused.value, WebSocketDenialResponse)
        assert refused.value.status_code == code


def test_errors_in_the_endpoint_reach_the_test() -> None:
    app = Barq()

    @app.websocket("/fail")
    async def fail(websocket: WebSocket) -> None:
        await websocket.accept()
        raise KeyError("oops")

    with pytest.raises(KeyError, match="oops"), TestClient(app).websocket_connect("/fail") as ws:
        ws.receive_text()
    client = TestClient(app, raise_server_exceptions=False)
    with client.websocket_connect("/fail") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1011


def test_a_client_sending_the_wrong_kind_of_message_is_closed_clearly() -> None:
    app = Barq()

    @app.websocket("/text")
    async def text(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    @app.websocket("/json")
    def json_endpoint(websocket: WebSocket) -> None:
        websocket.accept()
        websocket.receive_json()

    client = TestClient(app, raise_server_exceptions=False)
    for path, payload, code in (("/text", b"\x00", 1003), ("/json", "{not json", 1007)):
        with client.websocket_connect(path) as ws:
            if isinstance(payload, bytes):
                ws.send_bytes(payload)
            else:
                ws.send_text(payload)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == code


def test_routers_prefixes_dependencies_overrides_and_url_paths() -> None:
    app = Barq()
    router = APIRouter(prefix="/live")
    calls: list[str] = []

    def audit() -> None:
        calls.append("audit")

    def user() -> str:
        return "real"

    @router.websocket("/feed/{room}", name="feed")
    async def feed(websocket: WebSocket, room: str, who: Annotated[str, Depends(user)]) -> None:
        await websocket.accept()
        await websocket.send_text(f"{room}:{who}")

    app.include_router(router, prefix="/v1", dependencies=[Depends(audit)])
    app.dependency_overrides[user] = lambda: "fake"
    with TestClient(app).websocket_connect("/v1/live/feed/r1") as ws:
        assert ws.receive_text() == "r1:fake"
    assert calls == ["audit"]
    assert app.url_path_for("feed", room="r2") == "/v1/live/feed/r2"


def test_openapi_leaves_websockets_out_and_http_answers_are_clear() -> None:
    app = Barq()

    @app.get("/both")
    def both_http() -> dict[str, str]:
        return {"via": "http"}

    @app.websocket("/both")
    async def both_ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("via ws")

    @app.websocket("/only")
    async def only(websocket: WebSocket) -> None:
        await websocket.accept()

    client = TestClient(app)
    assert client.get("/both").json() == {"via": "http"}
    with client.websocket_connect("/both") as ws:
        assert ws.receive_text() == "via ws"
    answer = client.get("/only")
    assert answer.status_code == 426
    assert "WebSocket" in answer.json()["detail"]
    assert client.post("/both").headers["allow"] == "GET, HEAD"
    assert set(app.openapi()["paths"]) == {"/both"}
    assert list(app.openapi()["paths"]["/both"]) == ["get"]


def test_registration_refuses_what_a_websocket_cannot_have() -> None:
    from barq import Body

    app = Barq()
    with pytest.raises(BarqError, match="request body"):

        @app.websocket("/ws")
        async def endpoint(websocket: WebSocket, data: Annotated[dict[str, int], Body()]) -> None:
            pass


def test_receive_before_accept_and_send_after_close_say_why() -> None:
    app = Barq()
    errors: list[str] = []

    @app.websocket("/early")
    async def early(websocket: WebSocket) -> None:
        try:
            await websocket.receive_text()
        except RuntimeError as exc:
            errors.append(str(exc))
        await websocket.accept()
        await websocket.close()
        try:
            await websocket.send_text("late")
        except RuntimeError as exc:
            errors.append(str(exc))

    with TestClient(app).websocket_connect("/early") as ws, pytest.raises(WebSocketDisconnect):
        ws.receive_text()
    assert errors == [
        'WebSocket is not connected. Need to call "accept" first.',
        'Cannot call "send" once a close message has been sent.',
    ]
