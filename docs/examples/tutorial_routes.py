"""Tutorial, routes: decorators, path parameters, routers."""

from barq import APIRouter, Barq

app = Barq(title="Bookshop")


@app.get("/")
def index() -> dict:
    return {"shop": "open"}


@app.get("/books/{book_id}")
def read_book(book_id: int) -> dict:
    return {"id": book_id}


@app.get("/books/latest")  # static segments win over parameters
def latest_book() -> dict:
    return {"id": 42, "latest": True}


@app.get("/files/{file_path:path}")  # a catch-all: the rest of the path
def read_file(file_path: str) -> dict:
    return {"path": file_path}


@app.route("/ping", methods=["GET", "POST"])
def ping() -> str:
    return "pong"


# Group related routes under a prefix with shared tags.
authors = APIRouter(prefix="/authors", tags=["authors"])


@authors.get("/")
def list_authors() -> list[str]:
    return ["Ada", "Grace"]


@authors.get("/{name}", name="author")
def read_author(name: str) -> dict:
    return {"name": name}


app.include_router(authors)
