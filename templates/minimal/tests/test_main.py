from barq.testing import TestClient

from app.main import app

client = TestClient(app)


def test_index() -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello from {{ project_name }}"}


def test_hello() -> None:
    response = client.get("/hello/Ada")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, Ada"}


def test_create_greeting() -> None:
    response = client.post("/greetings", json={"name": "Ada", "excited": True})
    assert response.status_code == 201
    assert response.json() == {"message": "Hello, Ada!"}


def test_create_greeting_validates_the_body() -> None:
    response = client.post("/greetings", json={"excited": True})
    assert response.status_code == 422
