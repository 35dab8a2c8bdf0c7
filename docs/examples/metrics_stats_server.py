"""Serve an app with metrics on, plus the stats endpoint on loopback."""

from barq import Barq
from barq.metrics import Metrics
from barq.server import Server, ServerConfig
from barq.stats import start_stats_server

app = Barq()


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"message": "hello"}


def main(port: int = 8000, stats_port: int = 9100) -> None:
    metrics = Metrics()
    server = Server(app, ServerConfig(host="127.0.0.1", port=port, metrics=metrics))
    server.start()
    stats = start_stats_server(metrics, "127.0.0.1", stats_port)
    print(stats.url)  # http://127.0.0.1:9100 (JSON at /, Prometheus at /metrics)
    try:
        server.request_stop()  # replace with: server.serve_forever()
    finally:
        stats.stop()  # also runs at interpreter exit
        server.stop()


if __name__ == "__main__":
    main()
