"""Concurrency: many threads through dependencies, validation and shared state.

Runs on the free-threaded interpreter (where handlers really run in parallel);
skipped elsewhere.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from barq import Barq, Depends, HTTPException, Request
from barq.runtime import free_threaded_build, gil_enabled
from barq.testing import TestClient

pytestmark = [
    pytest.mark.free_threaded,
    pytest.mark.skipif(
        not free_threaded_build(),
        reason="needs a free-threaded CPython build (.venv-ft) to run handlers in parallel",
    ),
]

THREADS = 32
PER_THREAD = 40


class Deposit(BaseModel):
    account: int
    amount: int


def make_app() -> tuple[Barq, dict[str, Any]]:
    shared: dict[str, Any] = {"balances": [0] * 8, "opened": 0, "closed": 0, "dep_calls": 0}
    lock = threading.Lock()

    def session() -> Iterator[dict]:
        with lock:
            shared["opened"] += 1
        try:
            yield {"thread": threading.get_ident()}
        finally:
            with lock:
                shared["closed"] += 1

    def current_user(request: Request, s: dict = Depends(session)) -> str:
        with lock:
            shared["dep_calls"] += 1
        user = request.headers.get("x-user")
        if user is None:
            raise HTTPException(401, "who are you?")
        return user

    app = Barq()

    @app.post("/deposit/{worker}")
    def deposit(
        worker: int, body: Deposit, user: str = Depends(current_user), s: dict = Depends(session)
    ) -> dict:
        with lock:
            shared["balances"][body.account] += body.amount
        return {"worker": worker, "user": user, "account": body.account}

    return app, shared


def run_threads(target: Any) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def wrapper(i: int) -> None:
        try:
            start.wait(30)
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "deadlock: threads still running"
    return errors


def test_gil_stays_off() -> None:
    import barq.app  # noqa: F401 - the whole framework imported

    assert not gil_enabled(), "an import re-enabled the GIL"


def test_stress_through_testclient() -> None:
    app, shared = make_app()
    client = TestClient(app)
    bad = {"n": 0}
    bad_lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(PER_THREAD):
            r = client.post(
                f"/deposit/{i}",
                json={"account": (i + j) % 8, "amount": 3},
                headers={"x-user": f"u{i}"},
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"worker": i, "user": f"u{i}", "account": (i + j) % 8}
            # validation failures and dependency errors interleaved
            r = client.post(
                f"/deposit/{i}", json={"account": "x", "amount": 1}, headers={"x-user": "v"}
            )
            assert r.status_code == 422
            r = client.post(f"/deposit/{i}", json={"account": 0, "amount": 1})
            assert r.status_code == 401
            with bad_lock:
                bad["n"] += 2

    errors = run_threads(work)
    assert not errors, errors[:3]
    total = THREADS * PER_THREAD
    assert sum(shared["balances"]) == total * 3
    # one session per request (cached within the request), always closed
    assert shared["opened"] == shared["closed"] == total * 3
    assert shared["dep_calls"] == total * 3  # like FastAPI, dependencies run despite a bad body
    assert bad["n"] == total * 2


def test_stress_through_real_server(serve) -> None:  # type: ignore[no-untyped-def]
    app, shared = make_app()
    with serve(app, threads=8) as server:
        host, port = server.addresses[0][:2]

        def work(i: int) -> None:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                for j in range(PER_THREAD // 2):
                    body = json.dumps({"account": (i + j) % 8, "amount": 3}).encode()
                    conn.request(
                        "POST",
                        f"/deposit/{i}",
                        body=body,
                        headers={"content-type": "application/json", "x-user": f"u{i}"},
                    )
                    resp = conn.getresponse()
                    data = resp.read()
                    assert resp.status == 200, data
                    assert json.loads(data)["worker"] == i
            finally:
                conn.close()

        errors = run_threads(work)
    assert not errors, errors[:3]
    total = THREADS * (PER_THREAD // 2)
    assert sum(shared["balances"]) == total * 3
    assert shared["opened"] == shared["closed"] == total
