"""Running ``async def`` code on the thread that serves the request.

Every worker thread has its own event loop (:func:`thread_loop`, created on first
use), so async handlers run in parallel across worker threads exactly like
``def`` handlers do on a free-threaded build; a handler that awaits I/O holds
only its own worker. :func:`run_sync` drives one coroutine to completion on the
calling thread's loop:

- On Python 3.12+ it starts the coroutine as an *eager* task: it runs at once,
  inside a real :class:`asyncio.Task` (so ``asyncio.current_task()``,
  ``get_running_loop()``, anyio and sniffio work), and a coroutine that finishes
  without suspending — the common case for handlers that compute and return —
  never enters the event loop's scheduler at all (about 2 µs instead of the
  13-22 µs of ``run_until_complete``).
- When it does suspend (it awaits real I/O, a sleep, a lock), the loop runs
  until the task is done; the worker thread serves nothing else meanwhile.
- On 3.11, which has no eager tasks, it makes the task and runs its first
  step at once by hand (the step asyncio has just scheduled), with the same
  outcome.

Consequences of one loop per worker thread (see docs/async.md):

- objects bound to an event loop (a connection pool of an async database
  driver, an ``httpx.AsyncClient`` with open connections) belong to the loop
  that created them; create one per worker thread (:func:`thread_local_factory`)
  rather than one at module level or in the lifespan, whose loop is another;
- ``asyncio.create_task`` tasks that outlive their request make progress only
  while that worker's loop runs again; use ``BackgroundTasks`` for work after
  the response.

:func:`run_sync` refuses to run inside a running event loop of this thread
(that would need nested loops): code that is already async awaits instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import dis
import inspect
import sys
import threading
from _thread import get_ident
from asyncio import events
from collections.abc import Awaitable, Callable, Coroutine
from types import CoroutineType
from typing import Any, TypeVar

__all__ = [
    "EAGER_TASKS",
    "LoopThread",
    "ThreadLoop",
    "is_async_callable",
    "never_suspends",
    "run_direct",
    "run_sync",
    "thread_local_factory",
    "thread_loop",
]

T = TypeVar("T")

#: Python 3.12+ can start a task eagerly (``asyncio.Task(..., eager_start=True)``).
EAGER_TASKS = sys.version_info >= (3, 12)


class ThreadLoop(asyncio.SelectorEventLoop):
    """The event loop of one thread. :func:`run_sync` marks it running (as
    ``run_forever`` does) while it starts a task eagerly: that is what makes
    asyncio run the task's first step at once, inside the task."""


class _LoopHolder:
    """Owns one thread's loop; dropped with the thread's locals when the thread
    ends, and closes the loop then (its selector's file descriptors with it)."""

    __slots__ = ("loop",)

    def __init__(self, loop: ThreadLoop) -> None:
        self.loop = loop

    def __del__(self) -> None:
        loop = self.loop
        try:
            if not loop.is_closed() and not loop.is_running():
                loop.close()
        except Exception:
            pass


_local = threading.local()


def thread_loop() -> ThreadLoop:
    """This thread's event loop (created on first use, closed when the thread ends)."""
    try:
        loop: ThreadLoop = _local.loop
    except AttributeError:
        loop = _new_thread_loop()
    else:
        if loop.is_closed():  # someone closed it: make a fresh one
            loop = _new_thread_loop()
    return loop


def _new_thread_loop() -> ThreadLoop:
    loop = ThreadLoop()
    _local.holder = _LoopHolder(loop)
    _local.loop = loop
    return loop


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion on this thread's event loop and return its
    result (or raise its exception)."""
    if events._get_running_loop() is not None:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never awaited: no "was never awaited" warning
        raise RuntimeError(
            "run_sync() called inside a running event loop: await the coroutine instead"
        )
    try:  # the hot path of every async request: no call to thread_loop()
        loop: ThreadLoop = _local.loop
    except AttributeError:
        loop = _new_thread_loop()
    if type(awaitable) is not CoroutineType:
        return loop.run_until_complete(awaitable)
    coro: Coroutine[Any, Any, T] = awaitable
    loop._thread_id = get_ident()  # type: ignore[attr-defined]  # is_running() is True now
    events._set_running_loop(loop)
    try:
        if EAGER_TASKS:
            task: asyncio.Task[T] = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
        else:
            # 3.11: the same by hand. Making the task schedules its first step
            # (the newest callback in the ready queue); run that step now instead
            # of a turn of the loop (a selector poll and the scheduler).
            task = asyncio.Task(coro, loop=loop)
            ready = loop._ready  # type: ignore[attr-defined]
            if ready:
                ready.pop()._run()
    finally:
        events._set_running_loop(None)
        loop._thread_id = None  # type: ignore[attr-defined]
    if not task.done():
        return loop.run_until_complete(task)
    if loop._ready:  # type: ignore[attr-defined]  # callbacks the task scheduled (tasks it made)
        loop.run_until_complete(_yield_once())
    return task.result()


async def _yield_once() -> None:
    await asyncio.sleep(0)


def never_suspends(fn: Any) -> bool:
    """True for an ``async def`` function whose body has no ``await``, ``async
    for`` or ``async with``: its coroutine runs to the end on its first step.

    Checked on the bytecode: a coroutine suspends only at a ``YIELD_VALUE``
    (every await point compiles to one, also inside comprehensions, which are
    inlined or awaited), so a body without one cannot suspend.
    """
    if not (inspect.isfunction(fn) and inspect.iscoroutinefunction(fn)):
        return False
    return not any(ins.opname == "YIELD_VALUE" for ins in dis.get_instructions(fn.__code__))


def run_direct(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of a :func:`never_suspends` function to its end without a
    task or a turn of the event loop: one ``send`` on the calling thread, in a
    copy of the current context (as a task would), with this thread's loop set
    as the running loop (``get_running_loop()`` and ``create_task()`` work;
    tasks it creates get one turn of the loop afterwards, as with
    :func:`run_sync`). ``asyncio.current_task()`` is None inside: there is no
    task. This is what makes an ``async def`` handler that awaits nothing cost
    about what the same ``def`` handler costs."""
    if events._get_running_loop() is not None:
        return run_sync(coro)  # refuses, with run_sync's message
    try:
        loop: ThreadLoop = _local.loop
    except AttributeError:
        loop = _new_thread_loop()
    context = contextvars.copy_context()
    loop._thread_id = get_ident()  # type: ignore[attr-defined]
    events._set_running_loop(loop)
    try:
        context.run(coro.send, None)
    except StopIteration as stop:
        result: T = stop.value
    else:  # it yielded after all: not a coroutine of a never_suspends function
        coro.close()
        raise RuntimeError("run_direct() was given a coroutine that suspends; use run_sync()")
    finally:
        events._set_running_loop(None)
        loop._thread_id = None  # type: ignore[attr-defined]
        if loop._ready:  # type: ignore[attr-defined]  # tasks it created (also on error): start them
            loop.run_until_complete(_yield_once())
    return result


def is_async_callable(obj: Any) -> bool:
    """True for ``async def`` functions, also behind ``functools.partial`` or as a
    callable object's ``async def __call__``."""
    while hasattr(obj, "func") and hasattr(obj, "args"):  # functools.partial
        obj = obj.func
    if isinstance(obj, type):  # calling a class makes an instance
        return False
    return inspect.iscoroutinefunction(obj) or (
        callable(obj) and inspect.iscoroutinefunction(getattr(obj, "__call__", None))  # noqa: B004
    )


def thread_local_factory(factory: Callable[[], T]) -> Callable[[], T]:
    """A callable that returns one ``factory()`` object per thread (made on first
    use in that thread): for clients bound to an event loop, e.g.
    ``get_client = thread_local_factory(httpx.AsyncClient)`` and then
    ``client: httpx.AsyncClient = Depends(get_client)``."""
    local = threading.local()

    def get() -> T:
        try:
            value: T = local.value
        except AttributeError:
            value = local.value = factory()
        return value

    get.__name__ = getattr(factory, "__name__", "thread_local")
    get.__qualname__ = get.__name__
    return get


class LoopThread:
    """An event loop running in a thread of its own (``barq-lifespan``), for the
    app's async lifespan and startup/shutdown hooks: what they start (tasks, a
    periodic refresher) keeps running while the app serves, as under an ASGI
    server. :meth:`run` waits for one coroutine; :meth:`stop` ends the loop.
    """

    def __init__(self, name: str = "barq-lifespan") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                pending = asyncio.all_tasks(self.loop)
                for task in pending:
                    task.cancel()
                if pending:
                    self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on this loop and wait for its result (or exception)."""

        async def wrapper() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop (tasks still running are cancelled) and wait for the thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
