"""{{ project_name }}: a JSON API built with Barq."""

from barq import Barq, Depends, HTTPException

from app.dependencies import ItemStore, Page, get_store, pagination
from app.models import Item, ItemIn

app = Barq(title="{{ project_name }}")


@app.get("/")
def index() -> dict:
    return {"service": "{{ project_name }}", "docs": "/docs"}


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.get("/items")
def list_items(
    page: Page = Depends(pagination), store: ItemStore = Depends(get_store)
) -> list[Item]:
    return store.list(page.offset, page.limit)


@app.post("/items", status_code=201)
def create_item(data: ItemIn, store: ItemStore = Depends(get_store)) -> Item:
    return store.add(data)


@app.get("/items/{item_id}")
def read_item(item_id: int, store: ItemStore = Depends(get_store)) -> Item:
    item = store.get(item_id)
    if item is None:
        raise HTTPException(404, "Item not found")
    return item


@app.put("/items/{item_id}")
def replace_item(item_id: int, data: ItemIn, store: ItemStore = Depends(get_store)) -> Item:
    item = store.replace(item_id, data)
    if item is None:
        raise HTTPException(404, "Item not found")
    return item


@app.delete("/items/{item_id}", status_code=204)
def delete_item(item_id: int, store: ItemStore = Depends(get_store)) -> None:
    if not store.delete(item_id):
        raise HTTPException(404, "Item not found")
