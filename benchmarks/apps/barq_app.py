"""The Barq contender: plain ``def`` handlers on Barq's own thread-pool server
(plus two ``async def`` twins for ``benchmarks.async_cost``).

Run it standalone with ``python -m benchmarks.apps.barq_app --port 8000 --threads 8``
on a free-threaded or a GIL interpreter; the runner does exactly that.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from barq import Barq, Depends, HTTPException, WebSocket, WebSocketDisconnect
from barq.responses import PlainTextResponse, Response
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
    parse_serve_args,
    route_payload,
    runtime_info,
)

app = Barq()


@app.get("/health", response_class=PlainTextResponse)
def health() -> str:
    return "ok"


@app.get("/runtime")
def runtime() -> dict[str, Any]:
    return runtime_info()


@app.get("/hello")
def hello() -> dict[str, str]:
    return SMALL


@app.get("/hello-async")
async def hello_async() -> dict[str, str]:
    """``/hello`` as ``async def`` (``benchmarks.async_cost`` compares the two)."""
    return SMALL


async def _small() -> dict[str, str]:
    return SMALL


@app.get("/hello-await")
async def hello_await() -> dict[str, str]:
    """``/hello`` as ``async def`` that awaits a coroutine which returns at once:
    the handler can suspend, so it runs as an (eager) task."""
    return await _small()


@app.get("/json", response_model=Order)
def order() -> Order:
    return ORDER


@app.get("/cpu")
def cpu() -> dict[str, int]:
    return cpu_work()


@app.get("/db")
def db_read(item_id: int, repo: ItemRepository = Depends(get_repository)) -> dict[str, Any]:
    row = repo.get(item_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such item")
    return row


@app.get("/db-async")
async def db_read_async(
    item_id: int, repo: ItemRepository = Depends(get_repository)
) -> dict[str, Any]:
    """``/db`` as ``async def`` (a plain dependency, a query parameter, a lookup)."""
    row = repo.get(item_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such item")
    return row


@app.post("/items", status_code=201)
def create_item(item: NewItem) -> dict[str, Any]:
    return item_summary(item)


@app.get("/bytes64k")
def large() -> Response:
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
    def handler(item_id: int) -> dict[str, int]:
        return route_payload(route, item_id)

    handler.__name__ = f"route_{route}"
    return handler


get_repository()  # open (or create) the database at start-up, not on the first request

for _n in range(ROUTE_COUNT):
    app.get(f"/r{_n}/items/{{item_id}}")(_route_handler(_n))


def main() -> None:
    """Serve :data:`app` until SIGINT/SIGTERM."""
    from barq.server import serve

    args = parse_serve_args("Barq benchmark contender")
    if os.environ.get("BARQ_BENCH_METRICS") == "toggle":
        _serve_with_metrics_toggle(args)
        return
    tls = {}
    if os.environ.get("BARQ_BENCH_SSL_CERTFILE"):  # benchmarks.tls
        tls = {
            "ssl_certfile": os.environ["BARQ_BENCH_SSL_CERTFILE"],
            "ssl_keyfile": os.environ.get("BARQ_BENCH_SSL_KEYFILE"),
        }
    serve(app, host=args.host, port=args.port, threads=args.threads, **tls)


def _serve_with_metrics_toggle(args: Any) -> None:
    """Serve with metrics, switched off by SIGUSR2 and back on by SIGUSR1.

    For ``benchmarks.metrics_overhead``: comparing on and off inside one process
    removes the process-to-process spread (memory layout, hash seeds) that is
    larger than the effect being measured. A worker records exactly when its
    ``recorder`` is set; unset, the hot path is the one ``metrics=None`` runs.
    """
    import signal

    from barq.metrics import Metrics
    from barq.server import Server, ServerConfig

    server = Server(
        app,
        ServerConfig().with_options(
            host=args.host, port=args.port, threads=args.threads, metrics=Metrics()
        ),
    )
    saved: dict[int, Any] = {}

    def switch(signum: int, frame: Any) -> None:
        for worker in server.workers:
            if worker.recorder is not None:
                saved[worker.index] = worker.recorder
            recorder = saved.get(worker.index)
            worker.recorder = recorder if signum == signal.SIGUSR1 else None

    signal.signal(signal.SIGUSR1, switch)
    signal.signal(signal.SIGUSR2, switch)
    server.serve_forever()


if __name__ == "__main__":
    main()
