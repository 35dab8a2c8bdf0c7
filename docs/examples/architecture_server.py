"""Embed the server: any callable (HTTPRequest) -> HTTPResponse is an application."""

from barq.http import HTTPRequest, HTTPResponse
from barq.server import Server, ServerConfig


def app(request: HTTPRequest) -> HTTPResponse:
    body = f"{request.method} {request.path}\n".encode()
    return HTTPResponse(200, [("content-type", "text/plain")], body)


def run_briefly() -> list[tuple[str, int]]:
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=8))
    server.start()  # bind, run app.startup() if any, start reactor and workers
    addresses = server.addresses  # e.g. [("127.0.0.1", 54321)]
    # ... serve; or server.serve_forever() to block until SIGINT/SIGTERM
    server.stop()  # graceful: stop accepting, drain, close idle, app.shutdown()
    return addresses
