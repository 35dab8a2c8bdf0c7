"""OpenAPI 3.1 generation, /openapi.json and /docs."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from barq import Barq, Form, Header, Query, UploadFile
from barq.openapi.docs import swagger_assets
from barq.testing import TestClient

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("openapi_app", None)
    yield importlib.import_module("openapi_app")
    sys.modules.pop("openapi_app", None)


def test_example_document_is_valid_and_complete(example) -> None:
    doc = example.app.openapi()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {
        "title": "Bookshop",
        "version": "1.2.0",
        "description": "Books and their authors.",
    }
    assert doc["tags"] == [{"name": "books", "description": "The catalogue"}]
    assert set(doc["paths"]) == {"/books", "/books/{book_id}"}  # include_in_schema=False
    listing = doc["paths"]["/books"]["get"]
    assert listing["summary"] == "List Books"  # FastAPI's rule: from the name
    assert listing["description"] == "List books.\n\nReturns at most `limit` books, oldest first."
    assert listing["operationId"] == "list_books_books_get"
    assert listing["tags"] == ["books"]
    (limit,) = listing["parameters"]
    assert limit["in"] == "query" and limit["required"] is False
    assert limit["description"] == "How many books"
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 100
    assert limit["schema"]["default"] == 10
    ok = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {  # a list is titled after the operation, as FastAPI does
        "type": "array",
        "items": {"$ref": "#/components/schemas/Book"},
        "title": "Response List Books Books Get",
    }
    assert listing["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }
    read = doc["paths"]["/books/{book_id}"]["get"]
    assert read["parameters"][0]["in"] == "path" and read["parameters"][0]["required"]
    assert read["parameters"][0]["schema"]["minimum"] == 1
    assert read["responses"]["404"] == {"description": "No such book"}
    add = doc["paths"]["/books"]["post"]
    assert add["summary"] == "Add a book"
    assert "201" in add["responses"] and "200" not in add["responses"]
    assert add["requestBody"]["required"] is True
    body = add["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/NewBook"}
    schemas = doc["components"]["schemas"]
    assert {"Book", "NewBook", "ValidationError", "HTTPValidationError"} <= set(schemas)
    assert schemas["Book"]["properties"]["title"]["description"] == "The book's title"
    assert schemas["Book"]["properties"]["title"]["minLength"] == 1


def test_served_document_and_docs_page(example) -> None:
    client = TestClient(example.app)
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == example.app.openapi()
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/openapi.json" in page.text and "SwaggerUIBundle" in page.text
    assert "Bookshop" in page.text
    # the docs routes do not describe themselves
    assert "/docs" not in example.app.openapi()["paths"]


@pytest.mark.skipif(swagger_assets() is None, reason="openapi-ui-bundles is not installed")
def test_docs_assets_are_served_locally(example) -> None:
    client = TestClient(example.app)
    page = client.get("/docs").text
    assert "/docs/static/swagger-ui-bundle.js" in page and "cdn" not in page
    js = client.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert "javascript" in js.headers["content-type"]
    assert client.get("/docs/static/nope.js").status_code == 404
    assert client.get("/docs/static/..%2f__init__.py").status_code == 404


def test_docs_page_without_bundle_uses_cdn(monkeypatch: pytest.MonkeyPatch) -> None:
    import barq.openapi.docs as docs

    monkeypatch.setattr(docs, "swagger_assets", lambda: None)
    monkeypatch.setattr(docs, "redoc_assets", lambda: None)
    client = TestClient(Barq())
    page = client.get("/docs").text
    assert docs.CDN_URL in page and '"url": "/openapi.json"' in page
    assert client.get("/docs/static/swagger-ui.css").status_code == 404
    assert docs.REDOC_CDN_URL in client.get("/redoc").text


@pytest.mark.skipif(swagger_assets() is None, reason="openapi-ui-bundles is not installed")
def test_swagger_ui_reads_openapi_31_itself_from_local_assets() -> None:
    """Swagger UI 5 from the package reads the document as it is: no relabelled copy."""
    client = TestClient(Barq())
    page = client.get("/docs").text
    assert '"url": "/openapi.json"' in page and "3.0.3" not in page
    js = client.get("/docs/static/swagger-ui-bundle.js").content
    assert b"isOAS31" in js  # the UI understands OpenAPI 3.1
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_redoc_page_oauth2_redirect_and_swagger_parameters() -> None:
    from barq.openapi.docs import redoc_assets

    app = Barq(title="Shop", swagger_ui_parameters={"syntaxHighlight": False})
    client = TestClient(app)
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and '<redoc spec-url="/openapi.json">' in redoc.text
    if redoc_assets() is not None:
        assert "/redoc/static/redoc.standalone.js" in redoc.text
        assert client.get("/redoc/static/redoc.standalone.js").status_code == 200
    assert '"syntaxHighlight": false' in client.get("/docs").text
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "swaggerUIRedirectOauth2" in redirect.text
    assert "/redoc" not in app.openapi()["paths"]
    assert TestClient(Barq(redoc_url=None)).get("/redoc").status_code == 404


def test_openapi_url_none_disables_document_and_docs() -> None:
    client = TestClient(Barq(openapi_url=None))
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


def test_docs_url_none_keeps_document() -> None:
    client = TestClient(Barq(docs_url=None))
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 404


def test_user_route_at_docs_path_wins() -> None:
    app = Barq()

    @app.get("/docs")
    def my_docs() -> dict:
        return {"mine": True}

    assert TestClient(app).get("/docs").json() == {"mine": True}


class Item(BaseModel):
    name: str


def test_markers_headers_forms_and_operation_options() -> None:
    app = Barq(title="T", version="9")

    @app.get(
        "/h",
        operation_id="custom_op",
        deprecated=True,
        description="Explicit text.",
        responses={409: {"model": Item, "description": "Conflict!"}},
    )
    def with_header(
        x_token: Annotated[str, Header(description="secret")],
        tags: Annotated[list[str], Query()] = [],  # noqa: B006
    ) -> dict:
        return {}

    @app.post("/upload", tags=["files"])
    def upload(
        file: UploadFile,
        many: list[UploadFile],
        title: Annotated[str, Form(max_length=10)] = "",
    ) -> dict:
        return {}

    @app.post("/login")
    def login(user: Annotated[str, Form()]) -> dict:
        return {}

    @app.delete("/things/{thing_id}", status_code=204)
    def remove(thing_id: int) -> None:
        return None

    doc = app.openapi()
    validate(doc)
    op = doc["paths"]["/h"]["get"]
    assert op["operationId"] == "custom_op" and op["deprecated"] is True
    assert op["summary"] == "With Header" and op["description"] == "Explicit text."
    tags, header = op["parameters"]  # path, query, header, cookie order
    assert (header["name"], header["in"], header["required"]) == ("x-token", "header", True)
    assert header["description"] == "secret"
    assert tags["schema"]["type"] == "array"
    conflict = op["responses"]["409"]
    assert conflict["description"] == "Conflict!"
    assert conflict["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }
    upload_op = doc["paths"]["/upload"]["post"]
    ref = upload_op["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    body = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert body["properties"]["file"] == {  # OpenAPI 3.1's spelling, as FastAPI writes it
        "type": "string",
        "contentMediaType": "application/octet-stream",
        "title": "File",
    }
    assert body["properties"]["many"]["items"] == {
        "type": "string",
        "contentMediaType": "application/octet-stream",
    }
    assert body["properties"]["title"]["maxLength"] == 10
    assert body["required"] == ["file", "many"]
    login_body = doc["paths"]["/login"]["post"]["requestBody"]["content"]
    assert list(login_body) == ["application/x-www-form-urlencoded"]
    delete = doc["paths"]["/things/{thing_id}"]["delete"]["responses"]["204"]
    assert "content" not in delete


def test_path_converter_and_unique_operation_ids() -> None:
    app = Barq()

    @app.get("/files/{rest:path}")
    def files(rest: str) -> str:
        return rest

    @app.route("/multi", methods=["GET", "POST"])
    def multi() -> dict:
        return {}

    doc = app.openapi()
    validate(doc)
    assert "/files/{rest}" in doc["paths"]
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert "HTTPValidationError" in doc["components"]["schemas"]


def test_api_template_document_validates(tmp_path: Path) -> None:
    from barq_cli.scaffold import render_template

    project = tmp_path / "shop"
    render_template("api", project, {"project_name": "shop", "package_name": "shop"})
    code = (
        "import json, sys\n"
        "from openapi_spec_validator import validate\n"
        "from app.main import app\n"
        "doc = app.openapi()\n"
        "validate(doc)\n"
        "print(json.dumps(sorted(doc['paths'])))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "/items/{item_id}" in result.stdout and "/items" in result.stdout
