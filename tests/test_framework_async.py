"""``async def`` everywhere FastAPI allows it: handlers, dependencies (also async
generators with teardown), middleware, lifespan and hooks, exception handlers,
streaming bodies and background tasks — and they run in parallel on the workers."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest

from barq import BackgroundTasks, Barq, Depends, Header, HTTPException, Request
from barq.concurrency import is_async_callable, run_sync, thread_local_factory
from barq.middleware.base import BaseHTTPMiddleware, CallNext
from barq.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from barq.testing import TestClient


def test_async_handler_runs_inside_a_task_on_a_running_loop() -> None:
    app = Barq()

    @app.get("/items/{item_id}")
    async def item(item_id: int, q: str = "none") -> dict:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)  # a real suspension: the loop's timer runs
        return {"id": item_id, "q": q, "task": task is not None, "loop": loop.is_running()}

    @app.get("/fast")
    async def fast() -> dict:
        return {"fast": True}

    client = TestClient(app)
    assert client.get("/items/3?q=x").json() == {"id": 3, "q": "x", "task": True, "loop": True}
    assert client.get("/fast").json() == {"fast": True}
    # validation still happens before the coroutine is made
    r = client.get("/items/nope")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_async_dependencies_are_awaited_and_mixed_with_plain_ones() -> None:
    calls: list[str] = []

    async def get_token(authorization: Annotated[str, Header()] = "") -> str:
        await asyncio.sleep(0)
        calls.append("token")
        return authorization.removeprefix("Bearer ")

    def get_settings() -> dict:
        calls.append("settings")
        return {"admin": "root"}

    async def get_user(
        token: Annotated[str, Depends(get_token)],
        settings: Annotated[dict, Depends(get_settings)],
    ) -> str:
        if not token:
            raise HTTPException(401, "not authenticated")
        return settings["admin"] if token == "secret" else token

    class Pager:  # an async callable object as a dependency
        async def __call__(self, page: int = 1) -> int:
            return page

    app = Barq()

    @app.get("/me")
    def me(
        user: Annotated[str, Depends(get_user)],
        token: Annotated[str, Depends(get_token)],
        page: Annotated[int, Depends(Pager())],
    ) -> dict:
        return {"user": user, "token": token, "page": page}

    client = TestClient(app)
    r = client.get("/me?page=2", headers={"authorization": "Bearer secret"})
    assert r.status_code == 200
    assert r.json() == {"user": "root", "token": "secret", "page": 2}
    assert calls == ["token", "settings"]  # cached per request, like plain ones
    r = client.get("/me")
    assert r.status_code == 401
    assert r.json() == {"detail": "not authenticated"}
    r = client.get("/me?page=x", headers={"authorization": "Bearer a"})
    assert r.status_code == 422


def test_async_generator_dependencies_tear_down_in_reverse_order() -> None:
    events: list[str] = []

    async def db() -> AsyncIterator[str]:
        events.append("db open")
        try:
            yield "db"
        except HTTPException as exc:
            events.append(f"db saw {exc.status_code}")
            raise
        finally:
            await asyncio.sleep(0)
            events.append("db closed")

    def tx(conn: Annotated[str, Depends(db)]) -> Iterator[str]:
        events.append("tx begin")
        yield conn + "+tx"
        events.append("tx end")

    app = Barq()

    @app.get("/ok")
    async def ok(conn: Annotated[str, Depends(tx)]) -> dict:
        events.append("handler")
        return {"conn": conn}

    @app.get("/fail")
    async def fail(conn: Annotated[str, Depends(db)]) -> dict:
        raise HTTPException(409, "conflict")

    client = TestClient(app)
    assert client.get("/ok").json() == {"conn": "db+tx"}
    assert events == ["db open", "tx begin", "handler", "tx end", "db closed"]
    events.clear()
    r = client.get("/fail")
    assert r.status_code == 409
    assert events == ["db open", "db saw 409", "db closed"]


def test_async_dependency_in_a_plain_handler_is_never_an_unawaited_coroutine() -> None:
    async def value() -> int:
        return 41

    app = Barq()

    @app.get("/")
    def root(v: Annotated[int, Depends(value)]) -> dict:
        assert isinstance(v, int)
        return {"v": v + 1}

    assert TestClient(app).get("/").json() == {"v": 42}


def test_async_http_middleware_wraps_sync_and_async_routes() -> None:
    app = Barq()
    order: list[str] = []

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Response:
        order.append("async in")
        response = await call_next(request)
        order.append("async out")
        response.headers["x-async"] = "1"
        return response

    @app.middleware("http")
    def plain(request: Request, call_next: CallNext) -> Response:
        order.append("plain in")
        response = call_next(request)
        response.headers["x-plain"] = "1"
        return response

    @app.get("/sync")
    def sync_route() -> dict:
        return {"kind": "sync"}

    @app.get("/async")
    async def async_route() -> dict:
        await asyncio.sleep(0)
        return {"kind": "async"}

    @app.get("/boom")
    async def boom() -> dict:
        raise HTTPException(418, "teapot")

    client = TestClient(app)
    for kind in ("sync", "async"):
        order.clear()
        r = client.get(f"/{kind}")
        assert r.json() == {"kind": kind}
        assert r.headers["x-async"] == "1" and r.headers["x-plain"] == "1"
        assert order == ["plain in", "async in", "async out"]  # last added runs first
    r = client.get("/boom")
    assert r.status_code == 418 and r.headers["x-async"] == "1"
    assert client.get("/missing").status_code == 404


def test_async_middleware_can_short_circuit_and_read_the_body() -> None:
    class ApiKey(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Response:
            if request.headers.get("x-key") != "k":
                return JSONResponse({"detail": "no key"}, status_code=403)
            body = request.body
            response = await call_next(request)
            response.headers["x-seen"] = str(len(body))
            return response

    app = Barq()
    app.add_middleware(ApiKey)

    @app.post("/echo")
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.body.decode())

    client = TestClient(app)
    assert client.post("/echo", content=b"hi").status_code == 403
    r = client.post("/echo", content=b"hello", headers={"x-key": "k"})
    assert r.text == "hello" and r.headers["x-seen"] == "5"


def test_async_exception_handler() -> None:
    class Nope(Exception):
        pass

    app = Barq()

    @app.exception_handler(Nope)
    async def nope(request: Request, exc: Nope) -> JSONResponse:
        await asyncio.sleep(0)
        return JSONResponse({"nope": str(exc)}, status_code=400)

    @app.get("/sync")
    def sync_route() -> dict:
        raise Nope("sync")

    @app.get("/async")
    async def async_route() -> dict:
        raise Nope("async")

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        return await call_next(request)

    client = TestClient(app)
    assert client.get("/sync").json() == {"nope": "sync"}
    assert client.get("/async").json() == {"nope": "async"}


def test_async_lifespan_and_hooks_share_one_running_loop() -> None:
    events: list[str] = []
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.005)

    @asynccontextmanager
    async def lifespan(app: Barq) -> AsyncIterator[dict]:
        task = asyncio.create_task(ticker())
        events.append("start")
        yield {"answer": 42}
        task.cancel()
        events.append("stop")

    app = Barq(lifespan=lifespan)

    async def started() -> None:
        await asyncio.sleep(0)
        events.append("startup hook")

    async def stopped() -> None:
        events.append("shutdown hook")

    with pytest.warns(DeprecationWarning):
        app.on_event("startup")(started)
        app.on_event("shutdown")(stopped)

    @app.get("/")
    async def root(request: Request) -> dict:
        await asyncio.sleep(0.05)
        return {"answer": request.app.state.answer}

    with TestClient(app) as client:
        assert client.get("/").json() == {"answer": 42}
        seen = len(ticks)
        client.get("/")
        assert len(ticks) > seen  # the lifespan's task keeps running while the app serves
    assert events == ["startup hook", "start", "stop", "shutdown hook"]


def test_async_generator_lifespan() -> None:
    events: list[str] = []

    async def lifespan(app: Barq) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    app = Barq(lifespan=lifespan)
    with TestClient(app):
        assert events == ["start"]
    assert events == ["start", "stop"]


def test_async_iterables_stream_and_are_closed() -> None:
    closed: list[str] = []

    async def numbers(n: int) -> AsyncIterator[bytes]:
        try:
            for i in range(n):
                await asyncio.sleep(0)
                yield f"{i}\n".encode()
        finally:
            closed.append("closed")

    app = Barq()

    @app.get("/numbers")
    async def stream(n: int = 3) -> StreamingResponse:
        return StreamingResponse(numbers(n), media_type="text/plain")

    client = TestClient(app)
    r = client.get("/numbers?n=4")
    assert r.text == "0\n1\n2\n3\n"
    assert r.headers["content-type"].startswith("text/plain")
    assert closed == ["closed"]


def test_async_background_tasks_run_after_the_response() -> None:
    done = threading.Event()
    results: list[str] = []

    async def notify(who: str) -> None:
        await asyncio.sleep(0)
        results.append(who)
        done.set()

    app = Barq()

    @app.post("/signup")
    async def signup(name: str, tasks: BackgroundTasks) -> dict:
        tasks.add_task(notify, name)
        return {"ok": True}

    r = TestClient(app).post("/signup?name=ann")
    assert r.json() == {"ok": True}
    assert done.wait(5)
    assert results == ["ann"]


def test_async_handlers_run_in_parallel_on_the_worker_threads(serve) -> None:
    """Two async requests are in their handlers at the same time, on two worker
    threads: each waits (off its loop) until the other has arrived."""
    barrier = threading.Barrier(2)
    app = Barq()

    @app.get("/meet")
    async def meet() -> dict:
        await asyncio.to_thread(barrier.wait, 5)
        return {"thread": threading.current_thread().name}

    results: list[Any] = []

    def call(address: tuple[str, int]) -> None:
        conn = http.client.HTTPConnection(*address, timeout=10)
        try:
            conn.request("GET", "/meet")
            response = conn.getresponse()
            results.append((response.status, json.loads(response.read())))
        finally:
            conn.close()

    with serve(app, threads=2) as server:
        clients = [threading.Thread(target=call, args=(server.addresses[0],)) for _ in range(2)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(15)
    assert [status for status, _ in results] == [200, 200]
    assert len({body["thread"] for _, body in results}) == 2  # two workers, two loops


def test_thread_local_factory_gives_each_thread_its_own_object() -> None:
    get = thread_local_factory(object)
    mine = get()
    assert get() is mine
    other: list[object] = []
    t = threading.Thread(target=lambda: other.append(get()))
    t.start()
    t.join()
    assert other[0] is not mine


def test_run_sync_refuses_to_nest_and_reports_exceptions() -> None:
    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("inner")

    with pytest.raises(ValueError, match="inner"):
        run_sync(fail())

    async def nested() -> None:
        run_sync(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="await the coroutine instead"):
        run_sync(nested())


def test_is_async_callable() -> None:
    import functools

    async def f(x: int) -> int:
        return x

    class C:
        async def __call__(self) -> None:
            pass

    assert is_async_callable(f)
    assert is_async_callable(functools.partial(f, 1))
    assert is_async_callable(C())
    assert not is_async_callable(C)
    assert not is_async_callable(len)


def test_async_docs_example_serves_with_one_client_per_worker(load, serve) -> None:
    """docs/async.md's example (async_handlers.py): an async dependency checks the
    key, each worker thread gets its own loop-bound client."""
    example = load("async_handlers")
    client = TestClient(example.app)
    assert client.get("/weather/paris").status_code == 422  # the header is required
    assert client.get("/weather/paris", headers={"x-api-key": "no"}).status_code == 403
    r = client.get("/weather/london", headers={"x-api-key": "secret"})
    assert r.json() == {"city": "london", "forecast": "rain"}
    errors: list[BaseException] = []

    def call(address: tuple[str, int]) -> None:
        try:
            for _ in range(5):
                conn = http.client.HTTPConnection(*address, timeout=10)
                conn.request("GET", "/weather/oslo", headers={"x-api-key": "secret"})
                response = conn.getresponse()
                assert response.status == 200, response.read()
                assert json.loads(response.read())["forecast"] == "sunny"
                conn.close()
        except BaseException as exc:
            errors.append(exc)

    with serve(example.app, threads=3) as server:
        threads = [threading.Thread(target=call, args=(server.addresses[0],)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert errors == []


def test_plain_middleware_inside_an_async_one_and_async_routes_below_it() -> None:
    """An async middleware outside a plain one: the plain one runs off the event
    loop (so the async route below it can run on a loop of its own)."""
    app = Barq()
    seen: list[str] = []

    @app.middleware("http")
    def plain(request: Request, call_next: CallNext) -> Response:
        seen.append("plain")
        response = call_next(request)
        response.headers["x-plain"] = "1"
        return response

    @app.middleware("http")
    async def outer(request: Request, call_next: Any) -> Response:
        seen.append("async")
        response = await call_next(request)
        response.headers["x-async"] = "1"
        return response

    @app.get("/a")
    async def a() -> dict:
        await asyncio.sleep(0)
        return {"ok": "a"}

    @app.get("/s")
    def s() -> dict:
        return {"ok": "s"}

    client = TestClient(app)
    for path in ("/a", "/s"):
        seen.clear()
        r = client.get(path)
        assert r.status_code == 200 and r.json() == {"ok": path[1:]}
        assert r.headers["x-plain"] == "1" and r.headers["x-async"] == "1"
        assert seen == ["async", "plain"]


def test_mounted_app_below_an_async_middleware() -> None:
    sub = Barq()

    @sub.get("/ping")
    async def ping() -> dict:
        return {"pong": True}

    app = Barq()
    app.mount("/sub", sub)

    @app.middleware("http")
    async def tag(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["x-tag"] = "1"
        return response

    r = TestClient(app).get("/sub/ping")
    assert r.json() == {"pong": True} and r.headers["x-tag"] == "1"


# -- async def handlers that await nothing ----------------------------------------------


def test_never_suspends_reads_the_bytecode() -> None:
    from barq.concurrency import never_suspends

    async def plain(x: int) -> int:
        return [i for i in range(x)][-1]

    async def awaits() -> None:
        await asyncio.sleep(0)

    async def with_async_with(lock: asyncio.Lock) -> None:
        async with lock:
            pass

    async def with_async_for(items: Any) -> list[Any]:
        return [i async for i in items]

    async def gen() -> Any:
        yield 1

    def sync() -> None:
        pass

    assert never_suspends(plain)
    assert not never_suspends(awaits)
    assert not never_suspends(with_async_with)
    assert not never_suspends(with_async_for)
    assert not never_suspends(gen)
    assert not never_suspends(sync)


def test_async_handlers_without_await_run_directly_and_behave_the_same() -> None:
    """The direct path (no task, no loop turn) keeps what users rely on: a
    running loop, create_task() for fire-and-forget work, context variables that
    do not leak into the next request, exceptions, validation and dependencies."""
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
    started: list[str] = []
    pending: list[asyncio.Task[None]] = []
    app = Barq()

    async def remember(name: str) -> None:
        started.append(name)

    def user(x_user: Annotated[str, Header()] = "anon") -> str:
        return x_user

    @app.get("/direct/{n}")
    async def direct(n: int, who: str = Depends(user)) -> dict:
        before = request_id.get()
        request_id.set(f"req-{n}")
        loop = asyncio.get_running_loop()
        pending.append(loop.create_task(remember(f"task-{n}")))
        if n == 13:
            raise HTTPException(418, "unlucky")
        return {"n": n, "who": who, "before": before, "running": loop.is_running()}

    route = next(r for r in app.routes if r.path == "/direct/{n}")
    assert route._direct  # the path under test
    client = TestClient(app)
    first = client.get("/direct/1", headers={"x-user": "ada"})
    assert first.json() == {"n": 1, "who": "ada", "before": "-", "running": True}
    assert client.get("/direct/2").json()["before"] == "-"  # nothing leaked from request 1
    assert client.get("/direct/13").status_code == 418
    assert client.get("/direct/x").status_code == 422
    assert started == ["task-1", "task-2", "task-13"]


def test_dependency_overrides_with_an_async_dependency_leave_the_direct_path() -> None:
    app = Barq()

    def plain_dep() -> str:
        return "plain"

    @app.get("/")
    async def handler(value: str = Depends(plain_dep)) -> dict:
        return {"value": value, "task": asyncio.current_task() is not None}

    async def async_override() -> str:
        await asyncio.sleep(0)
        return "async"

    client = TestClient(app)
    assert client.get("/").json() == {"value": "plain", "task": False}
    app.dependency_overrides[plain_dep] = async_override
    assert client.get("/").json() == {"value": "async", "task": True}
