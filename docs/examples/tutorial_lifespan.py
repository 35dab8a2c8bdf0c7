"""Tutorial, lifespan: set up shared resources before the first request."""

import sqlite3
import threading
from collections.abc import Iterator

from barq import Barq, Request


def lifespan(app: Barq) -> Iterator[dict]:
    # Runs once, before the server accepts connections.
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("create table hits (path text)")
    yield {"db": db, "db_lock": threading.Lock()}  # merged into app.state
    # Runs once, after the last request (graceful shutdown).
    db.close()


app = Barq(lifespan=lifespan)
log: list[str] = []


@app.on_startup
def announce() -> None:
    log.append("started")


@app.on_shutdown
def goodbye() -> None:
    log.append("stopped")


@app.get("/hits")
def hits(request: Request) -> dict:
    db: sqlite3.Connection = request.app.state.db
    # Handlers run on many threads at once: one connection needs a lock.
    with request.app.state.db_lock, db:
        db.execute("insert into hits values (?)", (request.path,))
        (count,) = db.execute("select count(*) from hits").fetchone()
    return {"hits": count}
