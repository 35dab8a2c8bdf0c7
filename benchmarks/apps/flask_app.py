"""The Flask contender (served by gunicorn's ``gthread`` worker).

Flask has no body validation of its own, so POST /items validates with pydantic by
hand, as a Flask user would. Run with
``gunicorn -k gthread benchmarks.apps.flask_app:app``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from pydantic import ValidationError

from benchmarks.apps.common import (
    LARGE_BODY,
    ORDER,
    ROUTE_COUNT,
    SMALL,
    NewItem,
    cpu_work,
    get_repository,
    item_summary,
    route_payload,
    runtime_info,
)

app = Flask(__name__)


@app.get("/health")
def health() -> Response:
    return Response("ok", mimetype="text/plain")


@app.get("/runtime")
def runtime() -> Any:
    return jsonify(runtime_info())


@app.get("/hello")
def hello() -> Any:
    return jsonify(SMALL)


@app.get("/json")
def order() -> Response:
    return Response(ORDER.model_dump_json(), mimetype="application/json")


@app.get("/cpu")
def cpu() -> Any:
    return jsonify(cpu_work())


@app.get("/db")
def db_read() -> Any:
    try:
        item_id = int(request.args["item_id"])
    except (KeyError, ValueError):
        return jsonify({"detail": "item_id must be an integer"}), 422
    row = get_repository().get(item_id)
    if row is None:
        return jsonify({"detail": "no such item"}), 404
    return jsonify(row)


@app.post("/items")
def create_item() -> Any:
    try:
        item = NewItem.model_validate_json(request.get_data())
    except ValidationError as exc:
        return Response(exc.json(), status=422, mimetype="application/json")
    return jsonify(item_summary(item)), 201


@app.get("/bytes64k")
def large() -> Response:
    return Response(LARGE_BODY, mimetype="application/octet-stream")


def _route_view(route: int) -> Callable[..., Any]:
    def view(item_id: int) -> Any:
        return jsonify(route_payload(route, item_id))

    view.__name__ = f"route_{route}"
    return view


get_repository()  # open (or create) the database at start-up, not on the first request

for _n in range(ROUTE_COUNT):
    app.add_url_rule(f"/r{_n}/items/<int:item_id>", view_func=_route_view(_n))
