"""Lifespan: startup/shutdown hooks, lifespan= context, app.state, freezing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from barq import Barq, Request
from barq.testing import TestClient


def test_hooks_and_lifespan_generator_order() -> None:
    events: list[str] = []

    def lifespan(app: Barq) -> Iterator[dict]:
        events.append("lifespan start")
        app.state.pool = "pool"
        yield {"cache": {}}
        events.append("lifespan end")

    app = Barq(lifespan=lifespan)

    with pytest.warns(DeprecationWarning, match="lifespan"):  # as in FastAPI

        @app.on_event("startup")
        def s1() -> None:
            events.append("startup event")

    @app.on_startup
    def s2() -> None:
        events.append("on_startup")

    @app.on_shutdown
    def d1() -> None:
        events.append("on_shutdown")

    @app.get("/")
    def root(request: Request) -> dict:
        return {"pool": request.app.state.pool, "cache": request.app.state.cache}

    with TestClient(app) as client:
        assert events == ["startup event", "on_startup", "lifespan start"]
        assert client.get("/").json() == {"pool": "pool", "cache": {}}
    assert events[-2:] == ["lifespan end", "on_shutdown"]
    assert app.frozen


def test_contextmanager_lifespan() -> None:
    events: list[str] = []

    @contextlib.contextmanager
    def lifespan(app: Barq) -> Iterator[None]:
        events.append("up")
        yield
        events.append("down")

    app = Barq(lifespan=lifespan)
    app.startup()
    app.startup()  # idempotent
    app.shutdown()
    assert events == ["up", "down"]


def test_startup_error_propagates() -> None:
    app = Barq()

    @app.on_startup
    def fail() -> None:
        raise RuntimeError("database unreachable")

    with pytest.raises(RuntimeError, match="database unreachable"), TestClient(app):
        pass


def test_request_state_is_per_request() -> None:
    app = Barq()

    @app.middleware("http")
    def mark(request: Request, call_next):  # type: ignore[no-untyped-def]
        assert "marker" not in request.state
        request.state.marker = request.query_params.get("m")
        return call_next(request)

    @app.get("/")
    def root(request: Request) -> dict:
        return {"marker": request.state.marker}

    client = TestClient(app)
    assert client.get("/?m=a").json() == {"marker": "a"}
    assert client.get("/?m=b").json() == {"marker": "b"}


def test_state_lock_and_missing_attribute() -> None:
    app = Barq()
    with app.state.lock:
        app.state.counter = 1
    assert app.state.counter == 1
    with pytest.raises(AttributeError, match="nothing"):
        _ = app.state.nothing
