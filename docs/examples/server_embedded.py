"""Server guide: run Barq's server from Python with explicit limits and timeouts."""

from barq import Barq
from barq.server import Server, ServerConfig

app = Barq()


@app.get("/")
def index() -> dict:
    return {"ok": True}


config = ServerConfig(
    host="0.0.0.0",
    port=8000,
    threads=32,  # worker threads running handlers (default: 2 per core, 4 to 64)
    max_connections=10_000,  # beyond this, new clients wait in the listen backlog
    max_body_bytes=4 * 1024 * 1024,  # larger bodies get 413 before they are read
    header_timeout=10.0,  # a request head must arrive within 10 s (else 408)
    keepalive_timeout=5.0,  # idle keep-alive connections are closed after 5 s
    graceful_timeout=20.0,  # on SIGTERM, in-flight requests get 20 s to finish
)

if __name__ == "__main__":
    Server(app, config).serve_forever()  # until SIGINT/SIGTERM, then a graceful stop
