"""Tutorial, testing: exercise an app in-process with barq.testing.TestClient."""

from tutorial_lifespan import app

from barq.testing import TestClient


def test_hits_are_counted() -> None:
    # `with` runs the lifespan: startup before the first request, shutdown after.
    with TestClient(app) as client:
        first = client.get("/hits")
        second = client.get("/hits")
    assert first.status_code == 200
    assert first.json() == {"hits": 1}
    assert second.json() == {"hits": 2}


def test_unknown_route() -> None:
    with TestClient(app) as client:
        response = client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
