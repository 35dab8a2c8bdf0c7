"""Request bodies read as they arrive: a checksum of an upload of any size."""

from __future__ import annotations

import hashlib

from barq import Barq, Request

app = Barq()


@app.put("/blobs/{name}")
def store(name: str, request: Request) -> dict[str, object]:
    # Calling request.stream() (and declaring no body parameter) makes the route
    # read its body as it arrives: nothing is collected first.
    digest = hashlib.sha256()
    size = 0
    for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return {"name": name, "bytes": size, "sha256": digest.hexdigest()}


@app.post("/upload", stream_request_body=True)
async def upload(request: Request) -> dict[str, object]:
    # A multipart form parsed while it arrives: files go to temporary files.
    form = await request.form()
    file = form["file"]
    return {"filename": file.filename, "bytes": file.size}
