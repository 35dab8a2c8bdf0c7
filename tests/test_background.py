"""Background tasks run after the response is sent; failures are isolated."""

from __future__ import annotations

import logging
import threading

import pytest

from barq import BackgroundTask, BackgroundTasks, Barq, Depends, JSONResponse
from barq.testing import TestClient


def test_tasks_run_in_order_after_the_response_in_test_client() -> None:
    app = Barq()
    log: list[str] = []

    def record(what: str, *, suffix: str = "") -> None:
        log.append(what + suffix)

    @app.post("/signup")
    def signup(email: str, tasks: BackgroundTasks) -> dict:
        tasks.add_task(record, "mail", suffix=f":{email}")
        tasks.add_task(record, "audit")
        log.append("handler")
        return {"ok": True}

    response = TestClient(app).post("/signup?email=a@b.c")
    assert response.json() == {"ok": True}
    assert log == ["handler", "mail:a@b.c", "audit"]


def test_failing_task_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    app = Barq()
    log: list[str] = []

    def boom() -> None:
        raise RuntimeError("task exploded")

    @app.get("/t")
    def t(tasks: BackgroundTasks) -> str:
        tasks.add_task(boom)
        tasks.add_task(log.append, "after")
        return "ok"

    client = TestClient(app)
    with caplog.at_level(logging.ERROR, logger="barq.background"):
        assert client.get("/t").status_code == 200
    assert log == ["after"]
    assert "task exploded" in caplog.text
    assert client.get("/t").status_code == 200


def test_dependency_and_handler_share_tasks_and_response_background_runs_too() -> None:
    app = Barq()
    log: list[str] = []

    def audit(tasks: BackgroundTasks) -> None:
        tasks.add_task(log.append, "dependency")

    @app.get("/r", dependencies=[Depends(audit)])
    def r(tasks: BackgroundTasks) -> JSONResponse:
        tasks.add_task(log.append, "handler")
        return JSONResponse({"ok": 1}, background=BackgroundTask(log.append, "response"))

    assert TestClient(app).get("/r").json() == {"ok": 1}
    assert log == ["response", "dependency", "handler"]


def test_tasks_do_not_run_when_the_handler_fails() -> None:
    app = Barq()
    log: list[str] = []

    @app.get("/fail")
    def fail(tasks: BackgroundTasks) -> None:
        tasks.add_task(log.append, "never")
        raise ValueError("nope")

    assert TestClient(app, raise_server_exceptions=False).get("/fail").status_code == 500
    assert log == []


def test_response_is_on_the_wire_before_the_task_runs(serve, connect) -> None:
    app = Barq()
    release = threading.Event()
    done = threading.Event()

    def slow_task() -> None:
        assert release.wait(10), "the client never got the response"
        done.set()

    def broken_task() -> None:
        raise RuntimeError("isolated")

    @app.get("/go")
    def go(tasks: BackgroundTasks) -> dict:
        tasks.add_task(broken_task)
        tasks.add_task(slow_task)
        return {"queued": 2}

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    with serve(app, threads=2) as server:
        client = connect(server)
        reply = client.request("GET", "/go")
        assert reply.status == 200 and reply.body == b'{"queued":2}'
        release.set()  # the task could only finish because the response arrived first
        assert done.wait(10)
        assert client.request("GET", "/ping").body == b'"pong"'
        assert connect(server).request("GET", "/go").status == 200


def test_add_task_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="not callable"):
        BackgroundTasks().add_task(42)  # type: ignore[arg-type]
