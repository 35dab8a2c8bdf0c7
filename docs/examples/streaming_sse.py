"""docs/streaming.md: a plain text stream and server-sent events."""

import json
import time
from collections.abc import Iterator

from barq import Barq, StreamingResponse

app = Barq()


@app.get("/count")
def count(to: int = 5) -> StreamingResponse:
    def numbers() -> Iterator[str]:
        for i in range(1, to + 1):
            yield f"{i}\n"

    return StreamingResponse(numbers(), media_type="text/plain")


def sse(event: str, data: object, event_id: int | None = None) -> str:
    """One server-sent event in the text/event-stream format."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in json.dumps(data).splitlines())
    return "\n".join(lines) + "\n\n"


@app.get("/events")
def events(ticks: int = 3, interval: float = 0.0) -> StreamingResponse:
    def stream() -> Iterator[str]:
        try:
            for i in range(ticks):
                yield sse("tick", {"n": i}, event_id=i)
                time.sleep(interval)
            yield sse("done", {"total": ticks})
        finally:
            # runs when the stream ends *and* when the client disconnects
            pass

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
