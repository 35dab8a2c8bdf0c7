"""Event backends: how the reactor and the workers learn that a socket is ready.

The reactor and the workers never call epoll, poll or select themselves: they
use the two small interfaces below, made by :func:`make_backend`.

- :class:`ReadySet` — every open connection, *one-shot*: registered for input
  (``READ``) or, while output is pending, for room to write (``WRITE``). A
  ready connection is handed to exactly one waiting worker and disarmed until
  that worker re-arms it (``modify``); waiting workers are served first come,
  first served. ``poll(timeout, maxevents)`` is how a worker waits (``-1``:
  until something is ready); :meth:`release_all` makes every waiting and
  future ``poll`` return :attr:`stop_fd` (the workers exit).
- :class:`ControlSet` — the reactor thread's own set (listening sockets and its
  wake-up channel), polled only by that thread.

Two implementations:

``epoll`` (Linux, the default there)
    The ready set is an epoll set registered ``EPOLLONESHOT``; idle workers
    wait on it directly (leader/followers), so the kernel does the hand-out
    and no request passes between threads in user space. ``register``,
    ``modify``, ``unregister`` and ``poll`` are epoll's own methods.

``selectors`` (kqueue on macOS/BSD, select on Windows; poll or select on Linux when asked)
    The standard :mod:`selectors` module, which cannot be shared between
    threads: one poller thread (``<name>-poller``) owns the selector. Changes
    from any thread are queued and applied by the poller before it next
    polls (it is woken only when it is actually waiting); a connection that
    becomes ready is unregistered (one-shot, as with epoll) and put on a FIFO
    queue, from which exactly one waiting worker takes it. Same guarantees —
    idle and half-sent connections cost no worker, one worker per ready
    connection, FIFO fairness — at the price of one hand-over between threads
    per readiness event. ``select`` is limited to descriptors below
    ``FD_SETSIZE`` (1024 on Linux and macOS): use poll or kqueue for more
    connections.

Which one: ``ServerConfig(event_backend=...)`` or ``BARQ_EVENT_BACKEND``
(``auto``, ``epoll``, ``selectors``, ``kqueue``, ``poll``, ``select``); ``auto``
is epoll where it exists, else the platform's best selector (:func:`resolve`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import select
import selectors
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

__all__ = [
    "BACKEND_NAMES",
    "ControlSet",
    "EventBackend",
    "ReadySet",
    "Waker",
    "make_backend",
    "readable",
    "readable_among",
    "resolve",
    "wait_readable",
    "wait_writable",
]

#: select() takes descriptors below FD_SETSIZE (1024; on Windows 512 sockets per
#: call): with the select backend the server keeps fewer connections than that
#: open, leaving room for its other files.
_SELECT_MAX_CONNECTIONS = 500 if sys.platform == "win32" else 900

#: The values ``event_backend`` / ``BARQ_EVENT_BACKEND`` accept.
BACKEND_NAMES = ("auto", "epoll", "selectors", "kqueue", "poll", "select")

_SELECTOR_CLASSES: dict[str, str] = {
    "kqueue": "KqueueSelector",
    "poll": "PollSelector",
    "select": "SelectSelector",
}


class ReadySet(Protocol):
    """The one-shot set of open connections that workers wait on (see module docstring)."""

    READ: int
    WRITE: int
    #: What ``poll`` returns to every worker once :meth:`release_all` was called.
    stop_fd: int

    def register(self, fd: int, events: int, /) -> None: ...
    def modify(self, fd: int, events: int, /) -> None: ...
    def unregister(self, fd: int, /) -> None: ...
    def poll(self, timeout: float = -1, maxevents: int = -1, /) -> list[tuple[int, int]]: ...
    def release_all(self) -> None: ...
    def close(self) -> None: ...


class ControlSet(Protocol):
    """The reactor thread's set: listening sockets and its wake-up channel."""

    def register(self, fd: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self, timeout: float) -> list[tuple[int, int]]: ...
    def close(self) -> None: ...


class Waker:
    """A self-connected socket pair: :meth:`wake` makes :meth:`fileno` readable.

    A socket pair rather than a pipe, because Windows' select only takes sockets.
    """

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)

    def fileno(self) -> int:
        return self._r.fileno()

    def wake(self) -> None:
        """Make the read end readable (never blocks; a full buffer is readable already)."""
        with contextlib.suppress(OSError):
            self._w.send(b"x")

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            while self._r.recv(4096):
                pass

    def close(self) -> None:
        self._r.close()
        self._w.close()


class EventBackend:
    """A named way to make the two sets (:func:`make_backend`)."""

    def __init__(
        self,
        name: str,
        ready_set: Callable[[str], ReadySet],
        control_set: Callable[[], ControlSet],
        detail: str = "",
        max_connections: int | None = None,
    ) -> None:
        self.name = name
        #: what it runs on, e.g. ``"epoll"`` or ``"selectors: kqueue"``
        self.detail = detail or name
        #: how many connections it can watch at most (None: no limit of its own)
        self.max_connections = max_connections
        self._ready_set = ready_set
        self._control_set = control_set

    def ready_set(self, name: str) -> ReadySet:
        """The ready set; ``name`` prefixes the names of threads it starts."""
        return self._ready_set(name)

    def control_set(self) -> ControlSet:
        return self._control_set()

    def __repr__(self) -> str:
        return f"<EventBackend {self.detail}>"


# -- choosing ---------------------------------------------------------------------


def resolve(name: str = "auto") -> str:
    """The backend ``name`` stands for on this platform: ``epoll``, ``kqueue``,
    ``poll`` or ``select``. ``auto`` reads ``BARQ_EVENT_BACKEND`` first.

    Raises ValueError for an unknown name or one this platform lacks.
    """
    wanted = name.strip().lower()
    if wanted == "auto":
        wanted = os.environ.get("BARQ_EVENT_BACKEND", "").strip().lower() or "auto"
        if wanted not in BACKEND_NAMES:
            raise ValueError(
                f"BARQ_EVENT_BACKEND={wanted!r} is not a backend; "
                f"use one of {', '.join(BACKEND_NAMES)}"
            )
    if wanted not in BACKEND_NAMES:
        raise ValueError(f"unknown event backend {name!r}; use one of {', '.join(BACKEND_NAMES)}")
    if wanted == "auto":
        return "epoll" if hasattr(select, "epoll") else _best_selector()
    if wanted == "selectors":
        return _best_selector()
    if wanted == "epoll":
        if not hasattr(select, "epoll"):
            raise ValueError(
                f"the epoll event backend needs Linux (this is {sys.platform}); "
                "use 'selectors' (or leave it at 'auto')"
            )
        return "epoll"
    if not hasattr(selectors, _SELECTOR_CLASSES[wanted]):
        raise ValueError(f"the {wanted} event backend is not available on {sys.platform}")
    return wanted


def _best_selector() -> str:
    """The best selector that is not epoll: kqueue (macOS, BSD), poll (Linux and
    other Unixes, not macOS, whose poll is unreliable), else select (Windows)."""
    if hasattr(selectors, "KqueueSelector"):
        return "kqueue"
    if hasattr(selectors, "PollSelector") and sys.platform != "darwin":
        return "poll"
    return "select"


def make_backend(name: str = "auto") -> EventBackend:
    """The backend for ``name`` (see :func:`resolve`)."""
    resolved = resolve(name)
    if resolved == "epoll":
        return EventBackend("epoll", EpollReadySet, EpollControlSet)
    cls: type[selectors.BaseSelector] = getattr(selectors, _SELECTOR_CLASSES[resolved])
    return EventBackend(
        "selectors",
        lambda thread_name: SelectorReadySet(cls, thread_name),
        lambda: SelectorControlSet(cls),
        detail=f"selectors: {resolved}",
        max_connections=_SELECT_MAX_CONNECTIONS if resolved == "select" else None,
    )


# -- epoll ------------------------------------------------------------------------


class EpollReadySet:
    """The ready set on a Linux epoll set, one-shot; workers wait on it directly."""

    def __init__(self, name: str = "barq") -> None:
        self.READ = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLONESHOT
        self.WRITE = select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLONESHOT
        epoll = self._epoll = select.epoll()
        # epoll's own (thread-safe) methods: nothing between a worker and the kernel.
        self.register = epoll.register
        self.modify = epoll.modify
        self.unregister = epoll.unregister
        self.poll = epoll.poll
        # Level-triggered once released: every waiting worker wakes and exits.
        self._stop = Waker()
        self.stop_fd = self._stop.fileno()
        epoll.register(self.stop_fd, select.EPOLLIN)

    def release_all(self) -> None:
        self._stop.wake()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._epoll.close()
        self._stop.close()


class EpollControlSet:
    """The reactor's set on epoll (level-triggered, input only)."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self.poll = self._epoll.poll

    def register(self, fd: int) -> None:
        self._epoll.register(fd, select.EPOLLIN)

    def unregister(self, fd: int) -> None:
        self._epoll.unregister(fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._epoll.close()


# -- selectors --------------------------------------------------------------------

#: ``modify`` with this (not a valid event mask) means "unregister".
_FORGET = 0
#: ``poll`` returns ``(_STOP, 0)`` once released (no file descriptor is negative).
_STOP = -1


class SelectorReadySet:
    """The ready set on a :mod:`selectors` selector, owned by a poller thread.

    Thread rules: only the poller thread (``<name>-poller``) touches the
    selector. ``register`` / ``modify`` / ``unregister`` (any thread) append to
    ``_changes`` under ``_lock`` and wake the poller only if it is waiting in
    ``select`` (``_polling``); the poller applies the changes in order before
    it polls again. Ready connections go to ``_ready`` (a FIFO queue, itself
    thread-safe), from which ``poll`` (the workers) takes one at a time.
    """

    def __init__(self, selector_class: type[selectors.BaseSelector], name: str = "barq") -> None:
        self.READ = selectors.EVENT_READ
        self.WRITE = selectors.EVENT_WRITE
        self.stop_fd = _STOP
        self._selector = selector_class()
        self._waker = Waker()
        self._selector.register(self._waker.fileno(), selectors.EVENT_READ)
        self._ready: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._changes: list[tuple[int, int]] = []
        self._polling = False
        self._released = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-poller", daemon=True)
        self._thread.start()

    # -- any thread -----------------------------------------------------------------

    def register(self, fd: int, events: int, /) -> None:
        self._change(fd, events)

    def modify(self, fd: int, events: int, /) -> None:
        self._change(fd, events)

    def unregister(self, fd: int, /) -> None:
        self._change(fd, _FORGET)

    def _change(self, fd: int, events: int) -> None:
        with self._lock:
            if self._closed:
                raise ValueError("the ready set is closed")
            self._changes.append((fd, events))
            wake = self._polling
            self._polling = False  # one wake-up is enough
        if wake:
            self._waker.wake()

    def poll(self, timeout: float = -1, maxevents: int = -1, /) -> list[tuple[int, int]]:
        """One ready ``(fd, events)`` (a list, as epoll's poll returns), ``[]`` if
        none within ``timeout`` seconds (``-1``: wait), ``[(stop_fd, 0)]`` once
        released."""
        try:
            if timeout is None or timeout < 0:
                item = self._ready.get()
            elif timeout == 0:
                item = self._ready.get_nowait()
            else:
                item = self._ready.get(timeout=timeout)
        except queue.Empty:
            return []
        if item[0] == _STOP:
            self._ready.put(item)  # for the next worker: every one of them exits
        return [item]

    def release_all(self) -> None:
        self._released = True
        self._ready.put((_STOP, 0))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._waker.wake()
        self._ready.put((_STOP, 0))
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._selector.close()
        self._waker.close()

    # -- the poller thread --------------------------------------------------------------

    def _run(self) -> None:
        selector = self._selector
        waker_fd = self._waker.fileno()
        put = self._ready.put
        lock = self._lock
        while True:
            with lock:
                changes = self._changes
                if changes:
                    self._changes = []
                elif self._closed:
                    return
                else:
                    self._polling = True
            if changes:
                self._apply(changes)
                continue
            try:
                ready = selector.select(None)
            except InterruptedError:
                ready = []
            except (OSError, ValueError):
                # A descriptor was closed while registered: its unregister is
                # queued (connections are unregistered before they are closed);
                # apply it. With none queued, find the bad one ourselves.
                with lock:
                    self._polling = False
                    pending = bool(self._changes) or self._closed
                if not pending:
                    self._forget_bad_descriptors()
                continue
            with lock:
                self._polling = False
                # Descriptors unregistered while we waited: their readiness is
                # stale (the caller may close them, or hand them elsewhere).
                forgotten = {fd for fd, events in self._changes if events == _FORGET}
            for key, events in ready:
                fd = key.fd
                if fd == waker_fd:
                    self._waker.drain()
                    continue
                with contextlib.suppress(KeyError, ValueError, OSError):
                    selector.unregister(fd)  # one-shot: disarmed until re-armed
                if fd not in forgotten:
                    put((fd, events))

    def _apply(self, changes: Iterable[tuple[int, int]]) -> None:
        selector = self._selector
        for fd, events in changes:
            if events == _FORGET:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    selector.unregister(fd)
                continue
            try:
                selector.register(fd, events)
            except KeyError:  # still registered (re-armed twice): update it
                with contextlib.suppress(KeyError, ValueError, OSError):
                    selector.modify(fd, events)
            except (ValueError, OSError):
                # Closed meanwhile (its unregister follows) or not selectable:
                # hand it to a worker, whose read or write fails and closes it.
                self._ready.put((fd, events))

    def _forget_bad_descriptors(self) -> None:
        selector = self._selector
        for key in list(selector.get_map().values()):
            if key.fd == self._waker.fileno():
                continue
            try:
                select.select([key.fd], [], [], 0)
            except (OSError, ValueError):
                with contextlib.suppress(KeyError, ValueError, OSError):
                    selector.unregister(key.fd)
                self._ready.put((key.fd, selectors.EVENT_READ))


class SelectorControlSet:
    """The reactor's set on a :mod:`selectors` selector (reactor thread only)."""

    def __init__(self, selector_class: type[selectors.BaseSelector]) -> None:
        self._selector = selector_class()

    def register(self, fd: int) -> None:
        try:
            self._selector.register(fd, selectors.EVENT_READ)
        except KeyError as exc:
            raise OSError(errno.EEXIST, f"descriptor {fd} is already registered") from exc

    def unregister(self, fd: int) -> None:
        try:
            self._selector.unregister(fd)
        except KeyError as exc:
            raise OSError(errno.ENOENT, f"descriptor {fd} is not registered") from exc

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        return [(key.fd, events) for key, events in self._selector.select(timeout)]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._selector.close()


# -- one-off readiness checks ------------------------------------------------------------


def readable(fd: int) -> bool:
    """True when ``fd`` has bytes (or EOF) waiting, without consuming anything."""
    return bool(readable_among((fd,)))


def readable_among(fds: Iterable[int]) -> set[int]:
    """Which of ``fds`` have bytes (or EOF) waiting now (never blocks)."""
    fds = list(fds)
    if not fds:
        return set()
    if hasattr(select, "poll"):
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        try:
            return {fd for fd, mask in poller.poll(0) if mask & (select.POLLIN | select.POLLHUP)}
        except OSError:
            return set()
    ready: set[int] = set()  # Windows: select, in slices its FD_SETSIZE takes
    for start in range(0, len(fds), 500):
        with contextlib.suppress(OSError, ValueError):
            ready.update(select.select(fds[start : start + 500], [], [], 0)[0])
    return ready


def wait_readable(fd: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``fd`` to have bytes (or EOF) waiting;
    True when it has. For the one worker that reads a streamed request body."""
    return _wait(fd, timeout, writable=False)


def wait_writable(fd: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for room to write on ``fd``."""
    return _wait(fd, timeout, writable=True)


def _wait(fd: int, timeout: float, *, writable: bool) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT if writable else select.POLLIN)
        try:
            return bool(poller.poll(max(0, int(timeout * 1000))))  # any event: go and see
        except OSError:
            return False
    try:
        rlist, wlist, _ = select.select(
            [] if writable else [fd], [fd] if writable else [], [], max(0.0, timeout)
        )
    except (OSError, ValueError):
        return False
    return bool(rlist or wlist)
