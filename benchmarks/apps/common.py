"""Data and behaviour shared by every contender app (stdlib + pydantic only).

The endpoints, identical in every contender:

=====================  ==============================================================
``GET /hello``         ``{"message": "hello"}``
``GET /json``          a pydantic :class:`Order` with 10 nested :class:`LineItem` s
``GET /cpu``           a 100 000-iteration pure-Python loop (sum of ``i * i``)
``GET /db?item_id=N``  one row read from SQLite through a dependency that hands out
                       a per-thread connection
``POST /items``        a JSON body validated into :class:`NewItem` (201 + summary)
``GET /bytes64k``      a 64 KiB ``application/octet-stream`` body
``GET /r{N}/items/{item_id}``  50 routes (N = 0..49) with an ``int`` path parameter
``GET /health``        readiness probe used by the runner (plain text ``ok``)
=====================  ==============================================================

The SQLite file is made by the runner (``BARQ_BENCH_DB`` names it) so that every
worker process reads the same small table; run standalone, an app makes its own
temporary file at import time.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import tempfile
import threading
from typing import Any

from pydantic import BaseModel

__all__ = [
    "CPU_ITERATIONS",
    "LARGE_BODY",
    "ORDER",
    "ROUTE_COUNT",
    "SMALL",
    "ItemRepository",
    "LineItem",
    "NewItem",
    "Order",
    "cpu_work",
    "create_database",
    "get_repository",
    "item_summary",
    "parse_serve_args",
    "route_payload",
    "runtime_info",
]

CPU_ITERATIONS = 100_000
ROUTE_COUNT = 50
DB_ROWS = 100
SMALL: dict[str, str] = {"message": "hello"}
LARGE_BODY = bytes(range(256)) * 256  # exactly 64 KiB
assert len(LARGE_BODY) == 64 * 1024


class LineItem(BaseModel):
    """One line of an order (the nested sub-model of the /json scenario)."""

    sku: str
    name: str
    quantity: int
    unit_price: float
    tags: list[str]


class Customer(BaseModel):
    """The order's customer."""

    id: int
    name: str
    email: str


class Order(BaseModel):
    """The /json response model: a model with a nested list of 10 sub-models."""

    id: int
    status: str
    customer: Customer
    items: list[LineItem]
    total: float


def _make_order() -> Order:
    items = [
        LineItem(
            sku=f"SKU-{i:04d}",
            name=f"Item number {i}",
            quantity=i % 3 + 1,
            unit_price=round(9.99 + i * 1.25, 2),
            tags=["bench", f"group-{i % 4}"],
        )
        for i in range(10)
    ]
    total = round(sum(item.quantity * item.unit_price for item in items), 2)
    return Order(
        id=1001,
        status="shipped",
        customer=Customer(id=7, name="Ada Lovelace", email="ada@example.com"),
        items=items,
        total=total,
    )


ORDER = _make_order()


class NewItem(BaseModel):
    """The POST /items request body."""

    name: str
    price: float
    quantity: int
    tags: list[str] = []


def item_summary(item: NewItem) -> dict[str, Any]:
    """What POST /items answers for a valid body."""
    return {"name": item.name, "total": round(item.price * item.quantity, 2), "tags": item.tags}


def cpu_work() -> dict[str, int]:
    """The CPU-bound scenario: a plain Python loop, no C helpers."""
    total = 0
    for i in range(CPU_ITERATIONS):
        total += i * i
    return {"result": total}


def route_payload(route: int, item_id: int) -> dict[str, int]:
    """What ``GET /r{route}/items/{item_id}`` answers."""
    return {"route": route, "item_id": item_id}


def runtime_info() -> dict[str, Any]:
    """Interpreter facts of the serving process: version, build, GIL state *now*.

    Asked per request so that a GIL re-enabled by a late import shows up.
    """
    import platform
    import sys
    import sysconfig

    check = getattr(sys, "_is_gil_enabled", None)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "gil_enabled": True if check is None else bool(check()),
        "pid": os.getpid(),
    }


# --- SQLite -------------------------------------------------------------------------


def create_database(path: str) -> None:
    """Create the ``items`` table with :data:`DB_ROWS` rows in the file ``path``."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TABLE IF EXISTS items")
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany(
            "INSERT INTO items (id, name, price) VALUES (?, ?, ?)",
            [(i, f"item-{i}", round(i * 0.5, 2)) for i in range(1, DB_ROWS + 1)],
        )
        conn.commit()
    finally:
        conn.close()


class ItemRepository:
    """Reads items; each thread gets (and keeps) its own SQLite connection.

    The dependency hands out this object and the connection is looked up on the
    thread that runs the query, so it is safe even where a framework runs the
    dependency and the handler on different threads (FastAPI does).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._local.conn = conn
        return conn

    def get(self, item_id: int) -> dict[str, Any] | None:
        """The row with ``item_id`` as a dict, or None."""
        row = (
            self._connection()
            .execute("SELECT id, name, price FROM items WHERE id = ?", (item_id,))
            .fetchone()
        )
        if row is None:
            return None
        return {"id": row[0], "name": row[1], "price": row[2]}


def _database_path() -> str:
    path = os.environ.get("BARQ_BENCH_DB")
    if path:
        return path
    fd, path = tempfile.mkstemp(prefix="barq-bench-", suffix=".sqlite3")
    os.close(fd)
    create_database(path)
    atexit.register(os.unlink, path)
    return path


_repository: ItemRepository | None = None
_repository_lock = threading.Lock()


def get_repository() -> ItemRepository:
    """The dependency: the process-wide repository (connections are per thread).

    The apps call it once at import, so the database exists before the first request.
    """
    global _repository
    repo = _repository
    if repo is None:
        with _repository_lock:
            if _repository is None:
                _repository = ItemRepository(_database_path())
            repo = _repository
    return repo


def parse_serve_args(description: str) -> Any:
    """Parse ``--host/--port/--threads`` for an app module run as a script."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    return parser.parse_args()
