"""HTTP rules that more than one layer needs, stated once (RFC 9110).

- :data:`METHODS`: the methods Barq implements (the parser answers 501 to any
  other token; routing, CORS and metrics use the same list).
- :func:`body_allowed`: which statuses may carry content (1xx, 204 and 304
  never do, RFC 9110 §6.4.1).
"""

from __future__ import annotations

__all__ = ["METHODS", "NO_BODY_STATUSES", "body_allowed", "canonical_method"]

#: The methods Barq implements, in the order RFC 9110 §9.3 lists them (PATCH last).
METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH")

#: Final statuses that never carry content (with every 1xx).
NO_BODY_STATUSES = frozenset({204, 304})


def body_allowed(status: int) -> bool:
    """Whether a response with ``status`` may carry content."""
    return status >= 200 and status != 204 and status != 304


def canonical_method(method: str) -> str | None:
    """The method as a string literal (immortal, identical for every request), or None.

    Comparisons against literals touch no shared object: under free-threading a
    lookup in a module-level dict makes every worker thread bounce that dict's
    reference count between cores.
    """
    if method == "GET":
        return "GET"
    if method == "POST":
        return "POST"
    if method == "HEAD":
        return "HEAD"
    if method == "PUT":
        return "PUT"
    if method == "DELETE":
        return "DELETE"
    if method == "PATCH":
        return "PATCH"
    if method == "OPTIONS":
        return "OPTIONS"
    if method == "TRACE":
        return "TRACE"
    return None
