"""Dependency injection: Depends, nesting, caching, generator teardown, app/router deps."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Annotated

import pytest

from barq import APIRouter, Barq, Body, Depends, Header, HTTPException, Request
from barq.exceptions import BarqError
from barq.testing import TestClient


def test_nested_dependencies_and_request_scoped_cache() -> None:
    calls: list[str] = []

    def get_settings() -> dict:
        calls.append("settings")
        return {"prefix": "v"}

    def get_db(settings: dict = Depends(get_settings)) -> str:
        calls.append("db")
        return f"db-{settings['prefix']}"

    def get_user(db: Annotated[str, Depends(get_db)], x_user: str = Header("anon")) -> dict:
        calls.append("user")
        return {"name": x_user, "db": db}

    def uncached() -> int:
        calls.append("uncached")
        return len(calls)

    app = Barq()

    @app.get("/me")
    def me(
        user: dict = Depends(get_user),
        db: str = Depends(get_db),
        settings: Annotated[dict, Depends(get_settings)] = {},  # noqa: B006
        a: int = Depends(uncached, use_cache=False),
        b: int = Depends(uncached, use_cache=False),
    ) -> dict:
        return {"user": user, "db": db, "settings": settings, "different": a != b}

    client = TestClient(app)
    r = client.get("/me", headers={"x-user": "ann"})
    assert r.json() == {
        "user": {"name": "ann", "db": "db-v"},
        "db": "db-v",
        "settings": {"prefix": "v"},
        "different": True,
    }
    assert calls == ["settings", "db", "user", "uncached", "uncached"]
    calls.clear()
    client.get("/me")
    assert calls.count("settings") == 1  # a new request runs them again, once


def test_dependency_parameters_are_validated_like_handlers() -> None:
    def pagination(skip: int = 0, limit: int = 10) -> dict:
        return {"skip": skip, "limit": limit}

    app = Barq()

    @app.get("/items")
    def items(page: dict = Depends(pagination), q: int = 0) -> dict:
        return page

    client = TestClient(app)
    assert client.get("/items?skip=5").json() == {"skip": 5, "limit": 10}
    r = client.get("/items?limit=x&q=y")
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", "limit"], ["query", "q"]]


def test_class_dependency_and_bare_depends() -> None:
    class Service:
        def __init__(self, request: Request, verbose: bool = False) -> None:
            self.path = request.path
            self.verbose = verbose

    app = Barq()

    @app.get("/svc")
    def svc(service: Annotated[Service, Depends()]) -> dict:
        return {"path": service.path, "verbose": service.verbose}

    assert TestClient(app).get("/svc?verbose=1").json() == {"path": "/svc", "verbose": True}


def test_generator_dependency_teardown_after_response() -> None:
    events: list[str] = []

    def get_session() -> Iterator[str]:
        events.append("open")
        try:
            yield "session"
        except Exception as exc:
            events.append(f"saw {type(exc).__name__}: {exc}")
            raise
        finally:
            events.append("close")

    app = Barq()

    @app.get("/ok")
    def ok(session: str = Depends(get_session)) -> dict:
        events.append("handler")
        return {"session": session}

    @app.get("/boom")
    def boom(session: str = Depends(get_session)) -> dict:
        raise HTTPException(409, "conflict")

    @app.get("/crash")
    def crash(session: str = Depends(get_session)) -> dict:
        raise ValueError("bad thing")

    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/ok").json() == {"session": "session"}
    assert events == ["open", "handler", "close"]
    events.clear()
    r = client.get("/boom")
    assert r.status_code == 409 and r.json() == {"detail": "conflict"}
    assert events == ["open", "saw HTTPException: 409: conflict", "close"]
    events.clear()
    r = client.get("/crash")
    assert r.status_code == 500
    assert events == ["open", "saw ValueError: bad thing", "close"]


def test_generator_teardown_runs_after_the_response_is_produced() -> None:
    order: list[str] = []

    def dep() -> Iterator[None]:
        yield
        order.append("teardown")

    app = Barq()

    @app.get("/x")
    def handler(_: None = Depends(dep)) -> dict:
        order.append("handler")
        return {"a": 1}

    TestClient(app).get("/x")
    assert order == ["handler", "teardown"]


def test_teardown_can_raise_http_exception_and_nested_order() -> None:
    events: list[str] = []

    def outer() -> Iterator[str]:
        events.append("outer in")
        try:
            yield "o"
        except HTTPException as exc:
            events.append(f"outer saw {exc.detail}")
            raise
        events.append("outer out (not reached)")

    def inner(o: str = Depends(outer)) -> Iterator[str]:
        events.append("inner in")
        yield o + "i"
        events.append("inner out")
        raise HTTPException(400, "rejected on teardown")

    app = Barq()

    @app.get("/x")
    def handler(v: str = Depends(inner)) -> dict:
        return {"v": v}

    r = TestClient(app).get("/x")
    assert r.status_code == 400 and r.json() == {"detail": "rejected on teardown"}
    assert events == ["outer in", "inner in", "inner out", "outer saw rejected on teardown"]


def test_generator_teardown_when_validation_fails() -> None:
    events: list[str] = []

    def dep() -> Iterator[int]:
        events.append("enter")
        try:
            yield 1
        finally:
            events.append("exit")

    app = Barq()

    @app.get("/x")
    def handler(d: int = Depends(dep), n: int = 0) -> dict:
        return {}

    r = TestClient(app).get("/x?n=bad")
    assert r.status_code == 422
    assert events == ["enter", "exit"]


def test_dependency_raising_http_exception() -> None:
    def auth(authorization: str | None = Header(None)) -> str:
        if authorization != "Bearer ok":
            raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
        return "user"

    app = Barq()
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth)])

    @router.get("/panel")
    def panel() -> dict:
        return {"panel": True}

    app.include_router(router)
    client = TestClient(app)
    r = client.get("/admin/panel")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/admin/panel", headers={"authorization": "Bearer ok"}).json() == {
        "panel": True
    }


def test_dependency_with_body_is_merged_into_the_route_body() -> None:
    def audit(note: str = Body("")) -> str:
        return note

    app = Barq()

    @app.post("/x")
    def handler(count: int = Body(), note: str = Depends(audit)) -> dict:
        return {"count": count, "note": note}

    r = TestClient(app).post("/x", json={"count": 2, "note": "hi"})
    assert r.json() == {"count": 2, "note": "hi"}
    r = TestClient(app).post("/x", json={"note": "hi"})
    assert r.json()["detail"][0]["loc"] == ["body", "count"]


def test_circular_dependency_rejected() -> None:
    def cyc(x: int = 0) -> int:
        return x

    cyc.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("x", inspect.Parameter.KEYWORD_ONLY, default=Depends(cyc))]
    )
    app = Barq()
    with pytest.raises(BarqError, match="circular dependency"):

        @app.get("/c")
        def handler(v: int = Depends(cyc)) -> dict:
            return {}
