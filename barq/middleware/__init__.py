"""Middleware: the ``(request, call_next) -> response`` chain (``def`` or ``async def``),
CORS, GZip, TrustedHost and HTTPSRedirect."""

from barq.middleware.base import BaseHTTPMiddleware, CallNext, DispatchFunction, Middleware
from barq.middleware.cors import CORSMiddleware
from barq.middleware.gzip import GZipMiddleware
from barq.middleware.httpsredirect import HTTPSRedirectMiddleware
from barq.middleware.trustedhost import TrustedHostMiddleware

__all__ = [
    "BaseHTTPMiddleware",
    "CORSMiddleware",
    "CallNext",
    "DispatchFunction",
    "GZipMiddleware",
    "HTTPSRedirectMiddleware",
    "Middleware",
    "TrustedHostMiddleware",
]
