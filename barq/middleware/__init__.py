"""Middleware: the synchronous ``(request, call_next) -> response`` chain, CORS and GZip."""

from barq.middleware.base import BaseHTTPMiddleware, CallNext, DispatchFunction, Middleware
from barq.middleware.cors import CORSMiddleware
from barq.middleware.gzip import GZipMiddleware

__all__ = [
    "BaseHTTPMiddleware",
    "CORSMiddleware",
    "CallNext",
    "DispatchFunction",
    "GZipMiddleware",
    "Middleware",
]
