import pytest

from barq.testing import TestClient

from app import dependencies
from app.main import app


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    # Every test starts with an empty store.
    monkeypatch.setattr(dependencies, "store", dependencies.ItemStore())
    return TestClient(app)


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_create_and_read_item(client: TestClient) -> None:
    response = client.post("/items", json={"name": "lamp", "price": 12.5})
    assert response.status_code == 201
    item = response.json()
    assert item == {"id": 1, "name": "lamp", "price": 12.5, "tags": []}

    response = client.get(f"/items/{item['id']}")
    assert response.status_code == 200
    assert response.json() == item


def test_list_items_is_paginated(client: TestClient) -> None:
    for n in range(5):
        client.post("/items", json={"name": f"item {n}", "price": n})
    response = client.get("/items", params={"offset": 1, "limit": 2})
    assert response.status_code == 200
    assert [item["name"] for item in response.json()] == ["item 1", "item 2"]


def test_replace_and_delete_item(client: TestClient) -> None:
    client.post("/items", json={"name": "lamp", "price": 12.5})
    response = client.put("/items/1", json={"name": "desk lamp", "price": 15})
    assert response.status_code == 200
    assert response.json()["name"] == "desk lamp"

    assert client.delete("/items/1").status_code == 204
    assert client.get("/items/1").status_code == 404


def test_missing_item_is_404(client: TestClient) -> None:
    assert client.get("/items/999").status_code == 404


def test_invalid_item_is_422(client: TestClient) -> None:
    response = client.post("/items", json={"name": "", "price": -1})
    assert response.status_code == 422


def test_path_parameter_must_be_an_integer(client: TestClient) -> None:
    assert client.get("/items/abc").status_code == 422
