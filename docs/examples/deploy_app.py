"""Deployment guide: an app that shows what it sees of the client."""

import os

from barq import Barq, Request

app = Barq()


@app.get("/whoami")
def whoami(request: Request) -> dict:
    client = request.client
    return {
        "client": client.host if client else None,
        "scheme": request.url.scheme,
        "host": request.headers.get("host"),
        "pid": os.getpid(),
    }
