"""The synchronous middleware chain: ``(request, call_next) -> response``.

A middleware wraps "the rest of the application" — a callable taking a
:class:`~barq.requests.Request` and returning a :class:`~barq.responses.Response`.
The last middleware added is the outermost one (it sees the request first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from barq.requests import Request
from barq.responses import Response

__all__ = ["BaseHTTPMiddleware", "CallNext", "DispatchFunction", "Middleware"]

#: ``call_next(request) -> response``: runs the rest of the chain.
CallNext = Callable[[Request], Response]
#: ``dispatch(request, call_next) -> response``
DispatchFunction = Callable[[Request, CallNext], Response]


class BaseHTTPMiddleware:
    """Base class for middleware: override :meth:`dispatch`, or pass ``dispatch=``.

    ``app`` is the next callable in the chain (``request -> response``).
    """

    def __init__(self, app: CallNext, dispatch: DispatchFunction | None = None) -> None:
        self.app = app
        if dispatch is not None:
            self.dispatch_func: DispatchFunction = dispatch
        else:
            self.dispatch_func = self.dispatch

    def __call__(self, request: Request) -> Response:
        response = self.dispatch_func(request, self.app)
        if not isinstance(response, Response):
            raise TypeError(
                f"middleware {self.dispatch_func!r} returned {type(response).__name__}, "
                "not a Response"
            )
        return response

    def dispatch(self, request: Request, call_next: CallNext) -> Response:
        """Handle ``request``; call ``call_next(request)`` to run the rest of the app."""
        raise NotImplementedError("subclasses of BaseHTTPMiddleware must define dispatch()")


class Middleware:
    """A middleware class with its options, for ``Barq(middleware=[Middleware(Cls, ...)])``."""

    __slots__ = ("cls", "kwargs")

    def __init__(self, cls: Callable[..., CallNext], **kwargs: Any) -> None:
        self.cls = cls
        self.kwargs = kwargs

    def build(self, app: CallNext) -> CallNext:
        """Instantiate the middleware around ``app``."""
        return self.cls(app, **self.kwargs)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        name = getattr(self.cls, "__name__", repr(self.cls))
        return f"Middleware({name}{', ' if options else ''}{options})"
