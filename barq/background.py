"""Background tasks: work that runs after the response has been sent.

A handler asks for a :class:`BackgroundTasks` parameter and adds callables to
it; Barq runs them on the same worker thread once the response is on the wire
(through :attr:`barq.http.messages.HTTPResponse.on_complete`)::

    from barq import Barq, BackgroundTasks

    app = Barq()

    def send_email(to: str, subject: str) -> None: ...

    @app.post("/signup")
    def signup(email: str, tasks: BackgroundTasks) -> dict:
        tasks.add_task(send_email, email, subject="Welcome")
        return {"ok": True}

Tasks run in the order they were added; ``async def`` tasks are awaited on the
worker thread's event loop. A task that raises is logged (logger
``barq.background``) and the remaining tasks still run; the server and the
connection are unaffected. A single callable can also be passed as
``Response(background=BackgroundTask(fn, *args))``.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BackgroundTask", "BackgroundTasks", "run_background"]

logger = logging.getLogger("barq.background")


class BackgroundTask:
    """One call ``func(*args, **kwargs)`` to make after the response was sent."""

    __slots__ = ("args", "func", "kwargs")

    def __init__(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        if not callable(func):
            raise TypeError(f"background task {func!r} is not callable")
        self.func = func
        self.args = args
        self.kwargs = kwargs

    def __call__(self) -> None:
        result = self.func(*self.args, **self.kwargs)
        if inspect.isawaitable(result):
            from barq.concurrency import run_sync

            run_sync(result)

    def __repr__(self) -> str:
        name = getattr(self.func, "__qualname__", repr(self.func))
        return f"<BackgroundTask {name}>"


class BackgroundTasks:
    """An ordered list of :class:`BackgroundTask` (FastAPI's ``BackgroundTasks`` shape).

    Declare a handler (or dependency) parameter annotated with this class to get
    the request's instance; every dependency of the same request gets the same one.
    Calling the object runs every task; failures are logged and do not stop the
    remaining tasks.
    """

    def __init__(self, tasks: list[BackgroundTask] | None = None) -> None:
        self.tasks: list[BackgroundTask] = list(tasks or [])
        self._lock = threading.Lock()

    def add_task(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Schedule ``func(*args, **kwargs)`` to run after the response is sent."""
        task = BackgroundTask(func, *args, **kwargs)
        with self._lock:
            self.tasks.append(task)

    def __len__(self) -> int:
        return len(self.tasks)

    def __bool__(self) -> bool:
        return True  # an empty task list is still a valid ``background``

    def __call__(self) -> None:
        with self._lock:
            tasks, self.tasks = self.tasks, []
        for task in tasks:
            run_background(task)

    def __repr__(self) -> str:
        return f"<BackgroundTasks {len(self.tasks)} task(s)>"


def run_background(task: Callable[[], Any]) -> None:
    """Run one background callable, logging (not raising) what it raises."""
    try:
        task()
    except Exception:
        logger.exception("background task %r failed", task)


def chain_background(
    first: Callable[[], Any] | None, second: Callable[[], Any] | None
) -> Callable[[], Any] | None:
    """One callable running ``first`` then ``second`` (each isolated from the other)."""
    if first is None or first is second:
        return second
    if second is None:
        return first

    def both() -> None:
        run_background(first)
        run_background(second)

    return both
