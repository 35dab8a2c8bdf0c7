"""Tutorial, dependencies: Depends, sub-dependencies, yield, classes, router-wide."""

from collections.abc import Iterator
from typing import Annotated

from barq import APIRouter, Barq, Depends, Header, HTTPException

app = Barq()

FAKE_DB = {"ada": {"name": "Ada", "admin": True}, "bob": {"name": "Bob", "admin": False}}
events: list[str] = []


class Pagination:
    """A class is a dependency too: its __init__ parameters come from the request."""

    def __init__(self, offset: int = 0, limit: int = 10) -> None:
        self.offset = offset
        self.limit = limit


def get_db() -> Iterator[dict]:
    # Code after `yield` runs once the response is produced (also after errors).
    events.append("db opened")
    try:
        yield FAKE_DB
    finally:
        events.append("db closed")


def current_user(x_user: Annotated[str, Header()], db: Annotated[dict, Depends(get_db)]) -> dict:
    user = db.get(x_user)
    if user is None:
        raise HTTPException(401, "unknown user", headers={"www-authenticate": "X-User"})
    return user


def admin_user(user: Annotated[dict, Depends(current_user)]) -> dict:
    if not user["admin"]:
        raise HTTPException(403, "admins only")
    return user


@app.get("/me")
def me(user: Annotated[dict, Depends(current_user)]) -> dict:
    return {"name": user["name"]}


@app.get("/users")
def list_users(
    page: Annotated[Pagination, Depends()],  # Depends() with no argument uses the annotation
    db: Annotated[dict, Depends(get_db)],  # the same get_db as current_user: runs once
) -> list[str]:
    names = sorted(db)
    return names[page.offset : page.offset + page.limit]


# Dependencies for a whole router (or app): run for every route, results unused.
admin = APIRouter(prefix="/admin", dependencies=[Depends(admin_user)])


@admin.get("/stats")
def admin_stats() -> dict:
    return {"users": len(FAKE_DB)}


app.include_router(admin)
