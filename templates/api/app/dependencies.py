"""Dependencies shared by the routes."""

import threading

from pydantic import BaseModel

from app.models import Item, ItemIn


class ItemStore:
    """An in-memory item store, safe to use from many handler threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, Item] = {}
        self._next_id = 1

    def list(self, offset: int, limit: int) -> list[Item]:
        with self._lock:
            items = sorted(self._items.values(), key=lambda item: item.id)
        return items[offset : offset + limit]

    def get(self, item_id: int) -> Item | None:
        with self._lock:
            return self._items.get(item_id)

    def add(self, data: ItemIn) -> Item:
        with self._lock:
            item = Item(id=self._next_id, **data.model_dump())
            self._items[item.id] = item
            self._next_id += 1
            return item

    def replace(self, item_id: int, data: ItemIn) -> Item | None:
        with self._lock:
            if item_id not in self._items:
                return None
            item = Item(id=item_id, **data.model_dump())
            self._items[item_id] = item
            return item

    def delete(self, item_id: int) -> bool:
        with self._lock:
            return self._items.pop(item_id, None) is not None


store = ItemStore()


def get_store() -> ItemStore:
    """The item store used by the routes (tests replace it with a fresh one)."""
    return store


class Page(BaseModel):
    """Pagination parameters."""

    offset: int
    limit: int


def pagination(offset: int = 0, limit: int = 20) -> Page:
    """Read ``?offset=&limit=`` from the query string, clamped to sane bounds."""
    return Page(offset=max(offset, 0), limit=min(max(limit, 1), 100))
