"""``TrustedHostMiddleware``: answer only requests for the host names you serve.

A request whose ``Host`` is not in ``allowed_hosts`` gets ``400 Invalid host
header`` before any route runs (a defence against Host-header poisoning of
links and password-reset mails). Names may start with ``*.`` for any
subdomain; ``["*"]`` allows everything. With ``www_redirect`` (the default) a
request for ``example.com`` when only ``www.example.com`` is allowed is
redirected there (301). Names are spelled as in FastAPI / Starlette.
"""

from __future__ import annotations

from collections.abc import Sequence

from barq.middleware.base import CallNext, HookMiddleware
from barq.requests import Request
from barq.responses import PlainTextResponse, RedirectResponse, Response

__all__ = ["TrustedHostMiddleware"]


class TrustedHostMiddleware(HookMiddleware):
    """Refuse requests for hosts outside ``allowed_hosts`` (see the module)."""

    def __init__(
        self,
        app: CallNext,
        allowed_hosts: Sequence[str] | None = None,
        www_redirect: bool = True,
    ) -> None:
        super().__init__(app)
        hosts = list(allowed_hosts) if allowed_hosts is not None else ["*"]
        for pattern in hosts:
            wildcard_ok = pattern == "*" or (pattern.startswith("*.") and "*" not in pattern[1:])
            if "*" in pattern and not wildcard_ok:
                raise ValueError(
                    f"allowed host {pattern!r}: a wildcard is only allowed as '*' or a '*.' prefix"
                )
        self.allowed_hosts = [h.lower() for h in hosts]
        self.allow_any = "*" in self.allowed_hosts
        self.www_redirect = www_redirect

    def _allowed(self, host: str) -> bool:
        for pattern in self.allowed_hosts:
            if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return True
        return False

    def before(self, request: Request) -> Response | None:
        if self.allow_any:
            return None
        url = request.url
        host = url.hostname.lower()
        if self._allowed(host):
            return None
        if self.www_redirect and self._allowed("www." + host):
            netloc = "www." + url.netloc
            target = f"{url.scheme}://{netloc}{url.raw_path}"
            if url.query:
                target += "?" + url.query
            return RedirectResponse(target, status_code=301)
        return PlainTextResponse("Invalid host header", status_code=400)
