"""A chat room: every message a client sends goes to everyone in the room."""

from __future__ import annotations

import asyncio
from typing import Annotated

from barq import Barq, Depends, Query, WebSocket, WebSocketDisconnect, WebSocketException, status

app = Barq()


class Room:
    """The members of one room. Members may live on different WebSocket loop
    threads (on bigger machines there are several): each set operation is atomic,
    and ``send_text`` to a member of another thread is carried out by that thread."""

    def __init__(self) -> None:
        self.members: set[WebSocket] = set()

    async def broadcast(self, text: str) -> None:
        await asyncio.gather(*(member.send_text(text) for member in list(self.members)))


room = Room()


def nickname(name: Annotated[str, Query(min_length=1, max_length=20)]) -> str:
    if name.lower() == "admin":
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "that name is taken")
    return name


@app.websocket("/chat")
async def chat(websocket: WebSocket, name: Annotated[str, Depends(nickname)]) -> None:
    await websocket.accept()
    room.members.add(websocket)
    await room.broadcast(f"{name} joined")
    try:
        async for text in websocket.iter_text():
            await room.broadcast(f"{name}: {text}")
    finally:
        room.members.discard(websocket)
        await room.broadcast(f"{name} left")


@app.websocket("/shout")
def shout(websocket: WebSocket) -> None:
    """A ``def`` endpoint: the same methods, without ``await``."""
    websocket.accept()
    try:
        while True:
            websocket.send_text(websocket.receive_text().upper())
    except WebSocketDisconnect:
        pass
