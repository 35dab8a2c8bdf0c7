"""Body readers: one object per body framing (RFC 9112 §6-7), sans-I/O.

The parser picks a reader once a request head says how its body is framed and
hands it the receive buffer until the reader is :attr:`~BodyReader.done`. A
reader copies body bytes into the request's :class:`BodySink` (by default a
:class:`MemoryBody`, a ``bytearray``, so memory follows the body's size, not the
number of pieces it came in; the server may give one that spools to disk) and
returns how far it consumed the receive buffer. It raises a
:class:`~barq.http.errors.ProtocolError` for anything that is not a valid body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from barq.http.errors import BadRequest, ContentTooLarge, HeaderFieldsTooLarge
from barq.http.grammar import CHUNK_EXT, CHUNK_SIZE, HEX, OWS, parse_field

if TYPE_CHECKING:
    from barq.http.messages import HTTPRequest

__all__ = [
    "MAX_CHUNK_LINE",
    "BodyReader",
    "BodySink",
    "ChunkedReader",
    "ContentLengthReader",
    "MemoryBody",
]

#: Longest chunk-size line (size plus extensions) accepted.
MAX_CHUNK_LINE = 4096


class BodySink(Protocol):
    """Where a request's body bytes go while it arrives."""

    def extend(self, data: bytes | bytearray, /) -> None:
        """Append body bytes."""
        ...

    def finish(self, request: HTTPRequest) -> None:
        """The body is complete: give it to ``request``."""
        ...


class MemoryBody(bytearray):
    """The default sink: the body in memory, handed over as ``bytes``."""

    def finish(self, request: HTTPRequest) -> None:
        request.body = bytes(self)


class BodyReader(Protocol):
    """What the parser needs from a body reader."""

    #: True once the whole body (and its trailers) has been read.
    done: bool
    #: Trailer fields (chunked bodies only), as ``(lower-case name, value)``.
    trailers: list[tuple[str, str]]

    def read(self, buf: bytearray, pos: int, body: BodySink) -> int:
        """Consume body bytes of ``buf`` from ``pos`` into ``body``; return the new position."""
        ...

    @property
    def received(self) -> int:
        """Body bytes read so far."""
        ...


class ContentLengthReader:
    """A body of exactly ``length`` bytes (``Content-Length``)."""

    __slots__ = ("done", "received", "remaining", "trailers")

    def __init__(self, length: int) -> None:
        self.remaining = length
        self.received = 0
        self.done = length == 0
        self.trailers: list[tuple[str, str]] = []

    def read(self, buf: bytearray, pos: int, body: BodySink) -> int:
        take = min(len(buf) - pos, self.remaining)
        if take > 0:
            body.extend(buf[pos : pos + take])
            pos += take
            self.received += take
            self.remaining -= take
        self.done = self.remaining == 0
        return pos


# What a ChunkedReader waits for next.
_SIZE_LINE = "size line"
_DATA = "chunk data"
_DATA_END = "CRLF after chunk data"
_TRAILERS = "trailer section"


class ChunkedReader:
    """A ``Transfer-Encoding: chunked`` body: size lines, data, trailers.

    ``max_body`` bounds the decoded body (413), ``max_fields`` / ``max_field_bytes``
    the trailer section (431), like the head's limits.
    """

    __slots__ = (
        "done",
        "max_body",
        "max_field_bytes",
        "max_fields",
        "received",
        "remaining",
        "state",
        "trailers",
    )

    def __init__(self, max_body: int, max_fields: int, max_field_bytes: int) -> None:
        self.max_body = max_body
        self.max_fields = max_fields
        self.max_field_bytes = max_field_bytes
        self.state = _SIZE_LINE
        self.remaining = 0
        self.received = 0
        self.done = False
        self.trailers: list[tuple[str, str]] = []

    def read(self, buf: bytearray, pos: int, body: BodySink) -> int:
        while not self.done:
            state = self.state
            if state is _DATA:
                take = min(len(buf) - pos, self.remaining)
                if take <= 0:
                    return pos
                body.extend(buf[pos : pos + take])
                pos += take
                self.received += take
                self.remaining -= take
                if self.remaining:
                    return pos
                self.state = _DATA_END
            elif state is _DATA_END:
                available = len(buf) - pos
                if available >= 1 and buf[pos] != 0x0D:
                    raise BadRequest("chunk data longer than its declared size")
                if available < 2:
                    return pos
                if buf[pos + 1] != 0x0A:
                    raise BadRequest("chunk data longer than its declared size")
                pos += 2
                self.state = _SIZE_LINE
            elif state is _SIZE_LINE:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    if len(buf) - pos > MAX_CHUNK_LINE:
                        raise BadRequest("chunk size line too long")
                    return pos
                if eol - pos > MAX_CHUNK_LINE:
                    raise BadRequest("chunk size line too long")
                size = self._chunk_size(buf[pos:eol].decode("latin-1"))
                pos = eol + 2
                if size == 0:
                    self.state = _TRAILERS
                    continue
                if self.received + size > self.max_body:
                    raise ContentTooLarge("request body too large")
                self.remaining = size
                self.state = _DATA
            else:  # trailers, one field line at a time, up to the empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    if len(buf) - pos > self.max_field_bytes:
                        raise HeaderFieldsTooLarge("trailer section too large")
                    return pos
                line = buf[pos:eol].decode("latin-1")
                pos = eol + 2
                if not line:
                    self.done = True
                    break
                if len(self.trailers) >= self.max_fields:
                    raise HeaderFieldsTooLarge("too many trailer fields")
                self.trailers.append(parse_field(line))
        return pos

    @staticmethod
    def _chunk_size(line: str) -> int:
        # chunk-size [ chunk-ext ]: whitespace only as BWS before a ";"
        semi = line.find(";")
        size_text = line if semi < 0 else line[:semi].rstrip(OWS)
        if CHUNK_SIZE.fullmatch(size_text) is None:
            if HEX.fullmatch(size_text):
                raise BadRequest("chunk size too large")
            raise BadRequest("invalid chunk size")
        if semi >= 0 and CHUNK_EXT.fullmatch(line[semi:]) is None:
            raise BadRequest("invalid chunk extension")
        return int(size_text, 16)
