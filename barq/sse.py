"""Server-sent events with FastAPI's spelling: a path operation that ``yield``\\s,
declared with ``response_class=EventSourceResponse``, streams each item as one
event (``text/event-stream``)::

    @app.get("/items/stream", response_class=EventSourceResponse)
    async def items() -> AsyncIterable[Item]:
        for item in ITEMS:
            yield item                      # data: {"name": ...}

A plain item (a model, a dict, a string...) becomes the event's ``data`` as
JSON, validated against the item type of the return annotation when there is
one. Yield a :class:`ServerSentEvent` to set ``event``, ``id``, ``retry`` or a
``comment``, or ``raw_data`` to send text that is not JSON. Responses carry
``Cache-Control: no-cache`` and ``X-Accel-Buffering: no`` (nginx passes events
on at once). A browser reads them with ``new EventSource(url)``; the
``Last-Event-ID`` header of a reconnecting client is an ordinary header
parameter.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

from barq.streaming import StreamingResponse

__all__ = ["EventSourceResponse", "ServerSentEvent", "format_sse_event"]


class EventSourceResponse(StreamingResponse):
    """A streamed ``text/event-stream`` response. As a path operation's
    ``response_class`` it turns the items the operation yields into events; it
    can also be returned directly with an iterator of encoded events."""

    media_type = "text/event-stream"


def _single_line(value: str | None, what: str) -> str | None:
    if value is not None and ("\r" in value or "\n" in value):
        raise ValueError(f"SSE {what!r} must be a single line")
    return value


def _event_name(value: str | None) -> str | None:
    return _single_line(value, "event")


def _event_id(value: str | None) -> str | None:
    if value is not None and "\0" in value:
        raise ValueError("SSE 'id' must not contain null characters")
    return _single_line(value, "id")


class ServerSentEvent(BaseModel):
    """One event. ``data`` is sent as JSON (a string too: ``data: "hi"``);
    ``raw_data`` is sent as it is (not both). ``event`` names the event type,
    ``id`` sets the client's last event id, ``retry`` its reconnection delay in
    milliseconds, ``comment`` a ``:`` line that clients ignore (a keep-alive)."""

    data: Any = None
    raw_data: str | None = None
    event: Annotated[str | None, AfterValidator(_event_name)] = None
    id: Annotated[str | None, AfterValidator(_event_id)] = None
    retry: Annotated[int | None, Field(ge=0)] = None
    comment: str | None = None

    @model_validator(mode="after")
    def _one_kind_of_data(self) -> ServerSentEvent:
        if self.data is not None and self.raw_data is not None:
            raise ValueError("a ServerSentEvent has either data (sent as JSON) or raw_data")
        return self


def _lines(value: str) -> list[str]:
    return value.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def format_sse_event(
    *,
    data_str: str | None = None,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """The wire form of one event, ending with the blank line that ends it
    (``data_str`` is already encoded; each of its lines is a ``data:`` line)."""
    lines: list[str] = []
    if comment is not None:
        lines.extend(f": {line}" for line in _lines(comment))
    if event is not None:
        lines.append(f"event: {event}")
    if data_str is not None:
        lines.extend(f"data: {line}" for line in _lines(data_str))
    if id is not None:
        lines.append(f"id: {id}")
    if retry is not None:
        lines.append(f"retry: {retry}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")
