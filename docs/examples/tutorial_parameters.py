"""Tutorial, parameters: query, path, header and cookie parameters with validation."""

from enum import StrEnum
from typing import Annotated

from barq import Barq, Cookie, Header, Path, Query

app = Barq()


class Sort(StrEnum):
    title = "title"
    year = "year"


@app.get("/search")
def search(
    q: str,  # required: no default
    page: int = 1,  # optional, converted and validated as int
    sort: Sort = Sort.title,  # only "title" or "year"
    tag: list[str] | None = None,  # repeatable: ?tag=a&tag=b
) -> dict:
    return {"q": q, "page": page, "sort": sort, "tags": tag or []}


@app.get("/items/{item_id}")
def read_item(
    item_id: Annotated[int, Path(ge=1, description="The item number")],
    size: Annotated[int, Query(ge=1, le=100)] = 10,
    code: Annotated[str | None, Query(alias="item-code", pattern=r"^[A-Z]{3}$")] = None,
) -> dict:
    return {"item_id": item_id, "size": size, "code": code}


@app.get("/whoami")
def whoami(
    user_agent: Annotated[str | None, Header()] = None,  # reads the User-Agent header
    session: Annotated[str | None, Cookie()] = None,
) -> dict:
    return {"user_agent": user_agent, "session": session}
