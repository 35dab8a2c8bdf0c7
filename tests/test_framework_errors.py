"""HTTPException, custom exception handlers, validation errors, 500s and debug mode."""

from __future__ import annotations

import logging

import pytest

from barq import Barq, HTTPException, JSONResponse, PlainTextResponse, Request
from barq.exceptions import RequestValidationError
from barq.testing import TestClient


class AppError(Exception):
    pass


class NotFoundError(AppError):
    pass


def make_app(debug: bool = False) -> Barq:
    app = Barq(debug=debug)

    @app.exception_handler(AppError)
    def app_error(request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__, "path": request.path}, status_code=418)

    @app.get("/http")
    def http() -> dict:
        raise HTTPException(403, {"reason": "nope"}, headers={"X-Why": "policy"})

    @app.get("/default-detail")
    def default_detail() -> dict:
        raise HTTPException(404)

    @app.get("/custom")
    def custom() -> dict:
        raise NotFoundError("gone")  # subclass: MRO lookup finds AppError's handler

    @app.get("/crash")
    def crash() -> dict:
        raise RuntimeError("secret internals")

    @app.get("/needs-int")
    def needs_int(n: int) -> dict:
        return {"n": n}

    return app


def test_http_exception() -> None:
    client = TestClient(make_app())
    r = client.get("/http")
    assert (r.status_code, r.json(), r.headers["x-why"]) == (
        403,
        {"detail": {"reason": "nope"}},
        "policy",
    )
    assert client.get("/default-detail").json() == {"detail": "Not Found"}


def test_custom_handler_by_type_with_mro() -> None:
    r = TestClient(make_app()).get("/custom")
    assert (r.status_code, r.json()) == (418, {"error": "NotFoundError", "path": "/custom"})


def test_unexpected_exception_is_generic_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="barq.app"):
        r = TestClient(make_app(), raise_server_exceptions=False).get("/crash")
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    assert "secret" not in r.text
    record = next(rec for rec in caplog.records if rec.name == "barq.app")
    assert "GET /crash" in record.getMessage()
    assert record.exc_info is not None and "secret internals" in caplog.text
    assert "Traceback" in caplog.text


def test_debug_mode_shows_traceback() -> None:
    client = TestClient(make_app(debug=True), raise_server_exceptions=False)
    r = client.get("/crash")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/plain")
    assert "RuntimeError: secret internals" in r.text and "Traceback" in r.text
    r = client.get("/crash", headers={"accept": "text/html,application/xhtml+xml"})
    assert r.headers["content-type"].startswith("text/html")
    assert "<pre>" in r.text and "secret internals" in r.text


def test_override_validation_and_status_handlers() -> None:
    app = make_app()

    @app.exception_handler(RequestValidationError)
    def validation(request: Request, exc: RequestValidationError) -> PlainTextResponse:
        return PlainTextResponse(f"bad: {len(exc.errors())}", status_code=400)

    @app.exception_handler(404)
    def not_found(request: Request, exc: HTTPException) -> PlainTextResponse:
        return PlainTextResponse(f"no {request.path}", status_code=404)

    @app.exception_handler(Exception)
    def everything(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("custom 500", status_code=500)

    client = TestClient(app, raise_server_exceptions=False)
    assert (client.get("/needs-int?n=x").status_code, client.get("/needs-int?n=x").text) == (
        400,
        "bad: 1",
    )
    assert client.get("/missing").text == "no /missing"
    assert client.get("/crash").text == "custom 500"
    assert client.get("/custom").status_code == 418  # specific handlers still win


def test_failing_exception_handler_still_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    app = Barq()

    @app.exception_handler(ValueError)
    def broken(request: Request, exc: ValueError) -> JSONResponse:
        raise KeyError("handler bug")

    @app.get("/x")
    def x() -> dict:
        raise ValueError("first")

    with caplog.at_level(logging.ERROR):
        r = TestClient(app, raise_server_exceptions=False).get("/x")
    assert r.status_code == 500 and r.text == "Internal Server Error"


def test_non_serialisable_return_is_500() -> None:
    app = Barq()

    @app.get("/x")
    def x() -> dict:
        return {"obj": object()}

    assert TestClient(app, raise_server_exceptions=False).get("/x").status_code == 500
