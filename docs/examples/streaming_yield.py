"""Path operations that yield: JSON Lines by default, server-sent events with
response_class=EventSourceResponse (FastAPI's spelling)."""

import asyncio
from collections.abc import AsyncIterable, Iterable
from typing import Annotated

from pydantic import BaseModel

from barq import Barq, Header
from barq.sse import EventSourceResponse, ServerSentEvent

app = Barq()


class Quote(BaseModel):
    symbol: str
    price: float


QUOTES = [Quote(symbol="ACME", price=12.5), Quote(symbol="INIT", price=3.0)]


@app.get("/quotes")
def quotes() -> Iterable[Quote]:
    # application/jsonl: one JSON object per line, each checked against Quote
    yield from QUOTES


@app.get("/quotes/live", response_class=EventSourceResponse)
async def live(
    last_event_id: Annotated[int | None, Header()] = None,
) -> AsyncIterable[ServerSentEvent]:
    start = 0 if last_event_id is None else last_event_id + 1
    for i, quote in enumerate(QUOTES[start:], start):
        await asyncio.sleep(0)  # wait for the next price
        yield ServerSentEvent(data=quote, event="quote", id=str(i))
    yield ServerSentEvent(raw_data="[DONE]", event="end")
