"""Async handlers: an async dependency and a loop-bound client made per worker thread."""

import asyncio
from typing import Annotated

from barq import Barq, Depends, Header, HTTPException
from barq.concurrency import thread_local_factory


class WeatherClient:
    """Stands in for an async client (``httpx.AsyncClient``, a database pool): it
    holds loop-bound state, here an ``asyncio.Lock``, so each worker thread (each
    event loop) needs one of its own."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.calls = 0

    async def forecast(self, city: str) -> str:
        async with self.lock:
            self.calls += 1
            await asyncio.sleep(0.01)  # the network round trip
            return "sunny" if city != "london" else "rain"


# one client per worker thread, made on first use in that thread
get_client = thread_local_factory(WeatherClient)

app = Barq()


async def api_key(x_api_key: Annotated[str, Header()]) -> str:
    await asyncio.sleep(0)  # e.g. look the key up in an async store
    if x_api_key != "secret":
        raise HTTPException(status_code=403, detail="bad API key")
    return x_api_key


@app.get("/weather/{city}", dependencies=[Depends(api_key)])
async def weather(city: str, client: Annotated[WeatherClient, Depends(get_client)]) -> dict:
    return {"city": city, "forecast": await client.forecast(city)}
