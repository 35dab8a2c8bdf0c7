"""Forward every request's timing to a StatsD-style client with metrics hooks."""

import logging

from barq.metrics import Metrics, RequestEnd, RequestStart

log = logging.getLogger("myapp.requests")


class StatsdClient:
    """Stand-in for a real StatsD client (statsd, datadog, ...)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def timing(self, name: str, milliseconds: float) -> None:
        self.sent.append(f"{name}:{milliseconds:.3f}|ms")

    def incr(self, name: str) -> None:
        self.sent.append(f"{name}:1|c")


statsd = StatsdClient()
metrics = Metrics()


@metrics.on_request_end
def to_statsd(event: RequestEnd) -> None:
    statsd.timing(f"http.{event.method}.{event.route}", event.duration_s * 1000)
    if event.status >= 500:
        statsd.incr("http.errors")


@metrics.on_request_start
def log_start(event: RequestStart) -> None:
    log.debug("%s %s on %s", event.method, event.path, event.thread)


metrics.remove_hook(log_start)  # hooks can be removed again at any time
