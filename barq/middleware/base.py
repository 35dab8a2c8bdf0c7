"""The middleware chain: ``(request, call_next) -> response``, plain or async.

A middleware wraps "the rest of the application" — a callable taking a
:class:`~barq.requests.Request` and returning a :class:`~barq.responses.Response`.
The last middleware added is the outermost one (it sees the request first).

Both spellings work, as in FastAPI and Flask respectively::

    @app.middleware("http")
    async def timing(request, call_next):
        response = await call_next(request)
        ...

    @app.middleware("http")
    def timing(request, call_next):
        response = call_next(request)
        ...

Every link of the chain can be called two ways: ``link(request)`` returns the
response (plain code), ``await link.acall(request)`` (async code, running on
the worker thread's event loop). A request goes through the async way from the
first async middleware inward; plain middleware inside an async one run on a
helper thread (their ``call_next`` must return a response without awaiting),
so prefer async middleware when the app has async ones. The built-in
middleware (:class:`HookMiddleware`: CORS, GZip, TrustedHost, HTTPS redirect)
run either way natively.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from barq.concurrency import is_async_callable, run_sync
from barq.requests import Request
from barq.responses import Response

__all__ = [
    "AsyncCallNext",
    "BaseHTTPMiddleware",
    "CallNext",
    "DispatchFunction",
    "HookMiddleware",
    "Link",
    "Middleware",
    "acall",
]

#: ``call_next(request) -> response``: runs the rest of the chain.
CallNext = Callable[[Request], Response]
#: ``await call_next(request)`` in an async middleware.
AsyncCallNext = Callable[[Request], Awaitable[Response]]
#: ``dispatch(request, call_next) -> response`` (or ``async def``)
DispatchFunction = Callable[[Request, Any], Any]


@runtime_checkable
class Link(Protocol):
    """A link of the chain that can also be awaited from async code."""

    def __call__(self, request: Request, /) -> Response: ...

    def acall(self, request: Request, /) -> Awaitable[Response]: ...


async def acall(app: Callable[[Request], Any], request: Request) -> Response:
    """Run the chain link ``app`` from async code: ``await app.acall(request)``
    when it has one; a plain link (a middleware class of your own) runs on a
    helper thread, so that whatever it calls may run async code itself."""
    method = getattr(app, "acall", None)
    if method is not None:
        response: Response = await method(request)
        return response
    plain: Response = await _on_helper_thread(app, request)
    return plain


# Plain links called from async code run here. Each holds one request of one
# worker thread at a time, so the pool never needs more threads than there are
# requests nested that way; 64 is generous.
_helpers: ThreadPoolExecutor | None = None
# Guards the pool's creation only (two workers may meet the first such request at
# once); afterwards the pool is read without it.
_helpers_lock = threading.Lock()


def _helper_pool() -> ThreadPoolExecutor:
    global _helpers
    pool = _helpers
    if pool is None:
        with _helpers_lock:
            pool = _helpers
            if pool is None:
                pool = _helpers = ThreadPoolExecutor(
                    max_workers=64, thread_name_prefix="barq-middleware"
                )
    return pool


async def _on_helper_thread(func: Callable[..., Any], *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    result: Any = await loop.run_in_executor(_helper_pool(), functools.partial(func, *args))
    return result


def _checked(response: Any, where: object) -> Response:
    if not isinstance(response, Response):
        raise TypeError(f"middleware {where!r} returned {type(response).__name__}, not a Response")
    return response


class BaseHTTPMiddleware:
    """Base class for middleware: override :meth:`dispatch`, or pass ``dispatch=``.

    ``dispatch(request, call_next)`` may be ``def`` (``call_next(request)``
    returns the response) or ``async def`` (``await call_next(request)``).
    ``app`` is the next link of the chain.
    """

    def __init__(self, app: CallNext, dispatch: DispatchFunction | None = None) -> None:
        self.app = app
        self.dispatch_func: DispatchFunction = dispatch if dispatch is not None else self.dispatch
        #: the dispatch function is ``async def``
        self.is_async = is_async_callable(self.dispatch_func)

    def __call__(self, request: Request) -> Response:
        if self.is_async:
            return run_sync(self.acall(request))
        return _checked(self.dispatch_func(request, self.app), self.dispatch_func)

    async def acall(self, request: Request) -> Response:
        """The async way through this middleware (see the module docstring)."""
        if self.is_async:
            response = await self.dispatch_func(request, self._call_next)
            return _checked(response, self.dispatch_func)
        response = await _on_helper_thread(self.dispatch_func, request, self.app)
        return _checked(response, self.dispatch_func)

    async def _call_next(self, request: Request) -> Response:
        return await acall(self.app, request)

    def dispatch(self, request: Request, call_next: Any) -> Any:
        """Handle ``request``; call ``call_next(request)`` to run the rest of the app."""
        raise NotImplementedError("subclasses of BaseHTTPMiddleware must define dispatch()")


class HookMiddleware:
    """A middleware made of two plain hooks, which therefore runs natively in
    both ways of the chain: :meth:`before` may answer the request itself (return
    a response) and :meth:`after` may change or replace the app's response."""

    def __init__(self, app: CallNext) -> None:
        self.app = app

    def before(self, request: Request) -> Response | None:
        """A response to send instead of running the app, or None to go on."""
        return None

    def after(self, request: Request, response: Response) -> Response:
        """The response to send, given the app's."""
        return response

    def __call__(self, request: Request) -> Response:
        early = self.before(request)
        if early is not None:
            return early
        return self.after(request, self.app(request))

    async def acall(self, request: Request) -> Response:
        early = self.before(request)
        if early is not None:
            return early
        return self.after(request, await acall(self.app, request))


class Middleware:
    """A middleware class with its options, for ``Barq(middleware=[Middleware(Cls, ...)])``."""

    __slots__ = ("cls", "kwargs")

    def __init__(self, cls: Callable[..., CallNext], **kwargs: Any) -> None:
        self.cls = cls
        self.kwargs = kwargs

    def build(self, app: CallNext) -> CallNext:
        """Instantiate the middleware around ``app``."""
        return self.cls(app, **self.kwargs)

    @property
    def is_async(self) -> bool:
        """Whether the middleware this builds runs async code of its own."""
        dispatch = self.kwargs.get("dispatch")
        if dispatch is not None:
            return is_async_callable(dispatch)
        method = getattr(self.cls, "dispatch", None)
        return method is not None and inspect.iscoroutinefunction(method)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        name = getattr(self.cls, "__name__", repr(self.cls))
        return f"Middleware({name}{', ' if options else ''}{options})"
