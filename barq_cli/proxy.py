"""Trust ``X-Forwarded-For`` / ``X-Forwarded-Proto`` only from known proxies.

:class:`ProxyHeadersApp` wraps an application (``barq run --proxy-headers``). When
the peer that sent a request is a trusted proxy, ``request.client`` becomes the
original client and ``request.scheme`` the original scheme; a request from anyone
else passes through untouched, so clients cannot spoof their address. The rules
follow uvicorn's ``--forwarded-allow-ips``:

- trusted peers are IP addresses or networks (``10.0.0.0/8``), ``*`` for every peer,
  and ``unix`` for connections over a Unix socket (``--uds``);
- in ``X-Forwarded-For: client, proxy1, proxy2`` the client is the right-most
  address that is not itself a trusted proxy (the left-most when all are);
- ``X-Forwarded-Proto`` is used when it says ``http`` or ``https`` (the last value
  when a chain of proxies appended several).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from barq.http.messages import HTTPRequest, HTTPResponse

__all__ = ["ProxyHeadersApp", "TrustedProxies"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A parsed ``--forwarded-allow-ips`` value."""

    def __init__(self, spec: str | Iterable[str]) -> None:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        self.any = False
        self.unix = False
        self.networks: list[_Network] = []
        self.names: set[str] = set()
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            if item == "*":
                self.any = True
            elif item.lower() == "unix":
                self.unix = True
            else:
                try:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    if item.lower() == "localhost":
                        self.networks += [
                            ipaddress.ip_network("127.0.0.0/8"),
                            ipaddress.ip_network("::1/128"),
                        ]
                    else:
                        raise ValueError(
                            f"{item!r} is not an IP address, a network (10.0.0.0/8), '*' or 'unix'"
                        ) from None

    def trusts(self, host: str | None) -> bool:
        """Whether a peer at ``host`` (None: a Unix socket) may set forwarded headers."""
        if self.any:
            return True
        if host is None:
            return self.unix
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return host in self.names
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def _header_values(request: HTTPRequest, name: str) -> list[str]:
    values: list[str] = []
    for key, value in request.headers:
        if key == name:
            values += [part.strip() for part in value.split(",") if part.strip()]
    return values


class ProxyHeadersApp:
    """Rewrite ``request.client``/``scheme`` from forwarded headers of trusted peers."""

    def __init__(self, app: Any, trusted: TrustedProxies | str = "127.0.0.1") -> None:
        self.app = app
        self.trusted = trusted if isinstance(trusted, TrustedProxies) else TrustedProxies(trusted)

    def __call__(self, request: HTTPRequest) -> HTTPResponse:
        peer = request.client[0] if request.client else None
        if self.trusted.trusts(peer):
            self._apply(request)
        response: HTTPResponse = self.app(request)
        return response

    def _apply(self, request: HTTPRequest) -> None:
        protos = _header_values(request, "x-forwarded-proto")
        if protos:
            proto = protos[-1].lower()
            if proto in ("http", "https"):
                request.scheme = proto
        hops = _header_values(request, "x-forwarded-for")
        if hops:
            client = hops[0]
            for hop in reversed(hops):
                if not self.trusted.trusts(hop):
                    client = hop
                    break
            request.client = (client.strip("[]"), 0)

    def startup(self) -> None:
        startup = getattr(self.app, "startup", None)
        if startup is not None:
            startup()

    def shutdown(self) -> None:
        shutdown = getattr(self.app, "shutdown", None)
        if shutdown is not None:
            shutdown()

    def __getattr__(self, name: str) -> Any:
        # Let tools see the wrapped application's attributes (routes, title, …).
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)
