"""Request and response models."""

from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    """What a client sends to create or replace an item."""

    name: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0)
    tags: list[str] = []


class Item(ItemIn):
    """An item as stored and returned."""

    id: int
