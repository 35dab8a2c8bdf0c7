"""docs/openapi.md: an app whose OpenAPI document and /docs page Barq generates."""

from typing import Annotated

from pydantic import BaseModel, Field

from barq import Barq, HTTPException, Path, Query

app = Barq(
    title="Bookshop",
    version="1.2.0",
    description="Books and their authors.",
    openapi_tags=[{"name": "books", "description": "The catalogue"}],
)


class Book(BaseModel):
    id: int
    title: str = Field(min_length=1, description="The book's title")
    year: int | None = None


class NewBook(BaseModel):
    title: str = Field(min_length=1)
    year: int | None = None


BOOKS = {1: Book(id=1, title="Dune", year=1965)}


@app.get("/books", tags=["books"])
def list_books(
    limit: Annotated[int, Query(ge=1, le=100, description="How many books")] = 10,
) -> list[Book]:
    """List books.

    Returns at most `limit` books, oldest first.
    """
    return sorted(BOOKS.values(), key=lambda b: b.year or 0)[:limit]


@app.get("/books/{book_id}", tags=["books"], responses={404: {"description": "No such book"}})
def read_book(book_id: Annotated[int, Path(ge=1)]) -> Book:
    """Fetch one book."""
    book = BOOKS.get(book_id)
    if book is None:
        raise HTTPException(404, "Book not found")
    return book


@app.post("/books", tags=["books"], status_code=201, summary="Add a book")
def add_book(book: NewBook) -> Book:
    new = Book(id=max(BOOKS) + 1, **book.model_dump())
    BOOKS[new.id] = new
    return new


@app.get("/internal/health", include_in_schema=False)
def health() -> dict:
    return {"ok": True}
