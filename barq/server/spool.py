"""Request bodies that move from memory to a temporary file past a threshold.

The parser collects each body into a sink (:class:`barq.http.readers.BodySink`);
the server gives it a :class:`SpooledBody`, so a large upload costs disk space
rather than memory while it arrives and while the application reads it (the
multipart parser reads it piece by piece). The file is deleted when the
response is done (:meth:`barq.http.messages.HTTPRequest.close_body`).
"""

from __future__ import annotations

import tempfile
from typing import IO

from barq.http.messages import HTTPRequest

__all__ = ["SpooledBody"]


class SpooledBody:
    """A body sink: in memory up to ``threshold`` bytes, then in a temporary file."""

    __slots__ = ("_buffer", "_file", "threshold")

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None

    def extend(self, data: bytes | bytearray, /) -> None:
        file = self._file
        if file is None:
            if len(self._buffer) + len(data) <= self.threshold:
                self._buffer += data
                return
            file = self._file = tempfile.TemporaryFile(prefix="barq-body-")  # noqa: SIM115
            file.write(self._buffer)
            self._buffer = bytearray()
        file.write(data)

    def finish(self, request: HTTPRequest) -> None:
        file = self._file
        if file is None:
            request.body = bytes(self._buffer)
            return
        file.flush()
        request.set_body_file(file)
        self._file = None

    @property
    def spooled(self) -> bool:
        """True once the body went to a file."""
        return self._file is not None
