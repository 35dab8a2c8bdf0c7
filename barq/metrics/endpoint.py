"""The stats endpoint as a bare application, and the rules for its address.

The application never shares the served app's port or URL space: it runs on a
*second* server (:func:`barq.stats.start_stats_server`). Paths (GET or HEAD):

- ``/`` and ``/stats.json``: the snapshot as JSON (``?pretty=1`` to indent),
- ``/metrics``: Prometheus text exposition format,
- ``/healthz``: ``ok``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from barq.http.messages import HTTPRequest, HTTPResponse
from barq.metrics.prometheus import CONTENT_TYPE, render

if TYPE_CHECKING:
    from barq.metrics.core import Metrics

__all__ = [
    "StatsAddressError",
    "is_loopback",
    "make_stats_app",
    "parse_stats_address",
]

_JSON_PATHS = frozenset(("/", "/stats.json", "/stats"))
_NO_STORE = ("cache-control", "no-store")


class StatsAddressError(ValueError):
    """A stats address that cannot be parsed or is not allowed."""


def make_stats_app(metrics: Metrics) -> Callable[[HTTPRequest], HTTPResponse]:
    """The stats endpoint as a bare application ``app(request) -> response``."""

    def stats_app(request: HTTPRequest) -> HTTPResponse:
        path = request.path
        if path not in _JSON_PATHS and path not in ("/metrics", "/healthz"):
            body = json.dumps(
                {
                    "detail": f"Not Found: {path[:200]}",
                    "endpoints": ["/", "/stats.json", "/metrics", "/healthz"],
                }
            ).encode()
            return HTTPResponse(404, [("content-type", "application/json")], body)
        if request.method not in ("GET", "HEAD"):
            return HTTPResponse(
                405,
                [("content-type", "application/json"), ("allow", "GET, HEAD")],
                b'{"detail":"Method Not Allowed"}',
            )
        if path == "/healthz":
            headers = [("content-type", "text/plain; charset=utf-8"), _NO_STORE]
            body = b"ok\n"
        elif path == "/metrics":
            headers = [("content-type", CONTENT_TYPE), _NO_STORE]
            body = render(metrics.snapshot()).encode()
        else:
            pretty = any(
                part in ("pretty", "pretty=1", "pretty=true") for part in request.query.split("&")
            )
            text = json.dumps(
                metrics.snapshot(),
                indent=2 if pretty else None,
                separators=None if pretty else (",", ":"),
            )
            headers = [("content-type", "application/json"), _NO_STORE]
            body = text.encode() + b"\n"
        if request.method == "HEAD":
            body = b""
        return HTTPResponse(200, headers, body)

    stats_app.__qualname__ = "stats_app"
    return stats_app


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses
    )


def parse_stats_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Parse ``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` or ``PORT`` into ``(host, port)``."""
    value = text.strip()
    if not value:
        raise StatsAddressError("empty stats address; expected HOST:PORT, e.g. 127.0.0.1:9100")
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise StatsAddressError(f"invalid stats address {text!r}; expected [IPv6]:PORT")
        port_text = rest[1:]
    elif value.count(":") > 1:
        raise StatsAddressError(
            f"invalid stats address {text!r}; write IPv6 addresses as [::1]:PORT"
        )
    elif ":" in value:
        host, _, port_text = value.rpartition(":")
        host = host or default_host
    else:
        host, port_text = default_host, value
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise StatsAddressError(
            f"invalid port in stats address {text!r}; expected a number from 0 to 65535"
        )
    if not host:
        raise StatsAddressError(f"missing host in stats address {text!r}")
    return host, int(port_text)
