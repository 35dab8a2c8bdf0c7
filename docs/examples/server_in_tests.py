"""Testing: run the real server on a free port for end-to-end tests."""

import json
import urllib.request
from collections.abc import Iterator

import pytest
from tutorial_routes import app

from barq.server import Server, ServerConfig


@pytest.fixture
def base_url() -> Iterator[str]:
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=4))
    server.start()  # binds, runs the app's startup, starts the threads
    host, port = server.addresses[0]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()  # graceful: in-flight requests finish, then shutdown runs


def test_over_http(base_url: str) -> None:
    with urllib.request.urlopen(f"{base_url}/books/7") as response:
        assert response.status == 200
        assert response.headers["server"] == "barq"
        assert json.load(response) == {"id": 7}
