"""The FastAPI contender (served by uvicorn[standard]: uvloop + httptools).

Handlers that never block are ``async def`` (FastAPI's fastest path: no thread-pool
hop); the SQLite endpoint is a ``def`` handler with a ``def`` dependency, as the
FastAPI docs recommend for blocking I/O. Run with
``uvicorn benchmarks.apps.fastapi_app:app``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse, Response

from benchmarks.apps.common import (
    LARGE_BODY,
    ORDER,
    ROUTE_COUNT,
    SMALL,
    ItemRepository,
    NewItem,
    Order,
    cpu_work,
    get_repository,
    item_summary,
    route_payload,
    runtime_info,
)

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/health", response_class=PlainTextResponse)
async def health() -> str:
    return "ok"


@app.get("/runtime")
async def runtime() -> dict[str, Any]:
    return runtime_info()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return SMALL


@app.get("/json", response_model=Order)
async def order() -> Order:
    return ORDER


@app.get("/cpu")
async def cpu() -> dict[str, int]:
    return cpu_work()


@app.get("/db")
def db_read(item_id: int, repo: ItemRepository = Depends(get_repository)) -> dict[str, Any]:
    row = repo.get(item_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such item")
    return row


@app.post("/items", status_code=201)
async def create_item(item: NewItem) -> dict[str, Any]:
    return item_summary(item)


@app.get("/bytes64k")
async def large() -> Response:
    return Response(content=LARGE_BODY, media_type="application/octet-stream")


@app.websocket("/ws-echo")
async def ws_echo(websocket: WebSocket) -> None:
    """Echo every message (``benchmarks.websockets``)."""
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


@app.websocket("/ws-idle")
async def ws_idle(websocket: WebSocket) -> None:
    """Accept, then wait for the client to go (``benchmarks.websockets``)."""
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass


def _route_handler(route: int) -> Callable[..., Any]:
    async def handler(item_id: int) -> dict[str, int]:
        return route_payload(route, item_id)

    handler.__name__ = f"route_{route}"
    return handler


get_repository()  # open (or create) the database at start-up, not on the first request

for _n in range(ROUTE_COUNT):
    app.get(f"/r{_n}/items/{{item_id}}")(_route_handler(_n))
