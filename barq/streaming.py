"""Streamed responses: a body produced piece by piece by an iterator.

:class:`StreamingResponse` sends each item of an iterator (or generator) as it
is produced, with chunked transfer coding (or without it when you set a
``Content-Length`` header yourself). The iterator runs on the worker thread
that handles the request, *after* the handler returned::

    @app.get("/numbers")
    def numbers() -> StreamingResponse:
        def generate():
            for i in range(10):
                yield f"{i}\\n"
        return StreamingResponse(generate(), media_type="text/plain")

When the client goes away mid-stream the server stops iterating and calls the
iterator's ``close()``: a generator's ``finally`` block (or ``with`` block) runs
and the worker is free again.

``content`` may also be an async iterable (an ``async def`` generator): each
step runs on the event loop of the worker thread sending the body (one worker
may take over from another when a slow client makes the response wait for
the socket), and ``aclose()`` is awaited at the end. Keep objects bound to one
event loop (an async database connection) out of a stream that yields while
the client reads slowly, or read the rows first. ``str`` items are encoded with :attr:`charset`.
Import it from :mod:`barq.responses` or :mod:`barq`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any

from barq.http.messages import HTTPResponse
from barq.http.semantics import body_allowed
from barq.responses import Response

__all__ = ["StreamingResponse"]

#: what a streamed body may yield
Chunk = bytes | bytearray | memoryview | str


class StreamingResponse(Response):
    """A response whose body comes from an iterator of ``bytes`` / ``str`` chunks.

    ``content`` is any iterable (a generator, a file-like object opened in
    binary mode, a list...); ``media_type``, ``headers``, ``status_code`` and
    ``background`` work as for :class:`~barq.responses.Response`.
    """

    __slots__ = ("body_iterator",)

    #: the body is not in memory: middleware must not rewrite it
    buffered = False

    def __init__(
        self,
        content: Iterable[Chunk] | AsyncIterable[Chunk],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        if isinstance(content, str | bytes | bytearray | memoryview):
            content = [content]
        if isinstance(content, AsyncIterable):
            content = AsyncToSync(content)
        if not isinstance(content, Iterable):
            raise TypeError(
                f"StreamingResponse content must be an iterable (or async iterable) of "
                f"bytes or str, not {type(content).__name__}"
            )
        super().__init__(None, status_code, headers, media_type, background)
        self.body_iterator: Iterable[Chunk] = content

    def to_http(self, request: Any = None) -> HTTPResponse:
        """The wire response: ``stream=`` an encoding wrapper around the iterator."""
        iterator = self.body_iterator
        status = self.status_code
        headers = self._header_list()
        if not body_allowed(status):
            _close(iterator)
            return HTTPResponse(status, headers, b"", on_complete=self.background)
        return HTTPResponse(
            status, headers, stream=_Encoded(iterator, self.charset), on_complete=self.background
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code} streamed>"


class AsyncToSync:
    """A plain iterator over an async iterable: each ``__next__`` runs one step
    on the calling thread's event loop (:func:`barq.concurrency.run_sync`);
    ``close()`` awaits the async iterator's ``aclose()``."""

    __slots__ = ("_iterable", "_iterator")

    def __init__(self, iterable: AsyncIterable[Any]) -> None:
        self._iterable = iterable
        self._iterator: AsyncIterator[Any] | None = None

    def __iter__(self) -> AsyncToSync:
        return self

    def __next__(self) -> Any:
        from barq.concurrency import run_sync

        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = aiter(self._iterable)
        try:
            return run_sync(_anext(iterator))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        iterator = self._iterator
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            from barq.concurrency import run_sync

            self._iterator = None
            run_sync(aclose())


async def _anext(iterator: AsyncIterator[Any]) -> Any:
    return await anext(iterator)


def _close(iterable: Any) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


class _Encoded:
    """Iterate ``bytes`` for each chunk; :meth:`close` closes the wrapped iterable.

    A class rather than a generator so that ``close()`` reaches the wrapped
    iterable even when iteration never started (HEAD, client gone early).
    """

    __slots__ = ("_charset", "_iterable", "_iterator")

    def __init__(self, iterable: Iterable[Chunk], charset: str) -> None:
        self._iterable = iterable
        self._iterator: Iterator[Chunk] | None = None
        self._charset = charset

    def __iter__(self) -> _Encoded:
        return self

    def __next__(self) -> bytes:
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = iter(self._iterable)
        chunk = next(iterator)
        if isinstance(chunk, bytes):
            return chunk
        if isinstance(chunk, str):
            return chunk.encode(self._charset)
        if isinstance(chunk, bytearray | memoryview):
            return bytes(chunk)
        raise TypeError(
            f"a streamed response body yielded {type(chunk).__name__}; yield bytes or str"
        )

    def close(self) -> None:
        """Close the iterator (a generator's ``finally`` runs) and the iterable."""
        iterator = self._iterator
        if iterator is not None and iterator is not self._iterable:
            _close(iterator)
        _close(self._iterable)
