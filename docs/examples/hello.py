"""The smallest Barq app: `python hello.py`, then open http://127.0.0.1:8000/items/1."""

from pydantic import BaseModel

from barq import Barq

app = Barq()


class Item(BaseModel):
    name: str
    price: float


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None) -> dict:
    return {"id": item_id, "q": q}


@app.post("/items", status_code=201)
def create_item(item: Item) -> Item:
    return item


if __name__ == "__main__":
    app.run(port=8000)  # Barq's server, until Ctrl+C
