"""Tutorial, request bodies: Pydantic models validated from JSON."""

from typing import Annotated

from pydantic import BaseModel, Field

from barq import Barq, Body

app = Barq()


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []


class Owner(BaseModel):
    email: str


@app.post("/items", status_code=201)
def create_item(item: Item) -> Item:
    return item


@app.put("/items/{item_id}")
def replace_item(item_id: int, item: Item, owner: Owner) -> dict:
    # Two body parameters: the JSON object has one key per parameter.
    return {"id": item_id, "item": item, "owner": owner.email}


@app.post("/ratings")
def rate(stars: Annotated[int, Body(embed=True, ge=1, le=5)]) -> dict:
    # embed=True: the body is {"stars": 4}, not a bare 4.
    return {"stars": stars}
