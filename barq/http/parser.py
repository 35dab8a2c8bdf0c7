"""Strict HTTP/1.1 request parsing (RFC 9112), sans-I/O.

:class:`RequestParser` is the server side of one connection: feed it bytes as they
arrive, ask it for complete requests. It never touches a socket and never blocks::

    parser = RequestParser(limits)
    parser.feed(data)
    while (request := parser.next_request()) is not None:
        ...  # answer it

Anything the parser cannot accept raises a :class:`~barq.http.errors.ProtocolError`
carrying the status code to answer with; after that the connection must be
closed (the parser refuses further input). Ambiguous framing — the root of
request smuggling — is always rejected rather than guessed at.

The state machine has three states, and only :meth:`RequestParser._enter`
changes it:

- ``HEAD``: waiting for (the rest of) a request head;
- ``BODY``: the head is parsed and a body reader (:mod:`barq.http.readers`, one
  per framing) consumes the body;
- ``FAILED``: a protocol error was raised; nothing more is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from barq.http.errors import (
    BadRequest,
    ContentTooLarge,
    ExpectationFailed,
    HeaderFieldsTooLarge,
    MethodNotImplemented,
    ProtocolError,
    URITooLong,
    VersionNotSupported,
)
from barq.http.grammar import (
    AUTHORITY,
    BAD_VALUE_CHAR,
    HOST,
    OWS,
    REQUEST_LINE,
    TOKEN,
    VERSIONISH,
    parse_field,
)
from barq.http.messages import HTTPRequest
from barq.http.readers import BodyReader, BodySink, ChunkedReader, ContentLengthReader, MemoryBody
from barq.http.semantics import METHODS, canonical_method

__all__ = [
    "KNOWN_METHODS",
    "Limits",
    "ProtocolError",
    "RequestParser",
]

#: Methods the parser accepts; anything else that is a valid token gets 501.
KNOWN_METHODS = frozenset(METHODS)

# Parser states (see the module docstring).
HEAD = "HEAD"
BODY = "BODY"
FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits enforced while parsing (all in bytes unless said otherwise)."""

    #: Longest request line (method, target and version); beyond it: 414.
    max_request_line: int = 8 * 1024
    #: Largest header block including the request line; beyond it: 431.
    max_header_bytes: int = 64 * 1024
    #: Most header fields (trailers count separately, same limit); beyond it: 431.
    max_headers: int = 100
    #: Largest request body (declared or received); beyond it: 413.
    max_body_bytes: int = 16 * 1024 * 1024


DEFAULT_LIMITS = Limits()


class RequestParser:
    """Incremental parser for the requests arriving on one connection.

    ``client``/``server``/``scheme`` are copied onto every request produced;
    ``body_factory`` makes the sink each body is collected in (default: in memory).
    """

    __slots__ = (
        "_body",
        "_body_factory",
        "_buf",
        "_continue_acknowledged",
        "_expect_continue",
        "_pending",
        "_pos",
        "_reader",
        "_scan_from",
        "_state",
        "_streaming",
        "client",
        "limits",
        "scheme",
        "server",
        "stream_decider",
    )

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        *,
        client: tuple[str, int] | None = None,
        server: tuple[str, int] | None = None,
        scheme: str = "http",
        body_factory: Callable[[], BodySink] | None = None,
    ) -> None:
        self.limits = limits
        self.client = client
        self.server = server
        self.scheme = scheme
        self._body_factory: Callable[[], BodySink] = body_factory or MemoryBody
        self._buf = bytearray()
        self._pos = 0
        self._scan_from = 0
        self._state = HEAD
        self._pending: HTTPRequest | None = None
        self._reader: BodyReader | None = None
        self._body: BodySink | None = None
        self._expect_continue = False
        self._continue_acknowledged = False
        #: ``decider(head) -> bool``: whether a request's body is handed over as
        #: it arrives (:class:`BodyStream`) instead of collected first (the
        #: server asks its application; None: always collected)
        self.stream_decider: Callable[[HTTPRequest], bool] | None = None
        self._streaming = False

    # -- input -----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        if self._state is FAILED:
            raise BadRequest("connection already failed")
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
            self._scan_from = 0
        self._buf += data

    # -- state queries used by the server --------------------------------------

    @property
    def has_partial_request(self) -> bool:
        """True when some bytes of a not yet complete request have arrived."""
        return self._state is not HEAD or self._pos < len(self._buf)

    @property
    def reading_body(self) -> bool:
        """True when the head is parsed and the body is still arriving."""
        return self._state is BODY

    @property
    def wants_continue(self) -> bool:
        """True when the client waits for ``100 Continue`` before sending the body."""
        reader = self._reader
        return (
            self._expect_continue
            and not self._continue_acknowledged
            and reader is not None
            and reader.received == 0
            and self._pos == len(self._buf)
        )

    def continue_sent(self) -> None:
        """Record that ``100 Continue`` was sent for the current request."""
        self._continue_acknowledged = True

    @property
    def buffered(self) -> int:
        """Number of received bytes not yet consumed."""
        return len(self._buf) - self._pos

    def take_buffered(self) -> bytes:
        """The received bytes not consumed yet, removed from the parser: what
        followed a request after which the connection speaks another protocol
        (a WebSocket upgrade)."""
        rest = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        return rest

    # -- output ----------------------------------------------------------------

    def next_request(self) -> HTTPRequest | None:
        """Return the next complete request, or None if more bytes are needed.

        Raises :class:`ProtocolError` for anything that is not a valid request.
        """
        try:
            if self._state is HEAD and not self._parse_head():
                return None
            if self._state is BODY:
                if self._streaming:
                    return None  # the body is being read through its BodyStream
                reader = self._reader
                body = self._body
                assert reader is not None and body is not None
                decider = self.stream_decider
                if decider is not None and reader.received == 0:
                    request = self._pending
                    assert request is not None
                    if decider(request):
                        self._streaming = True
                        self._body = None
                        request.body_stream = BodyStream(self)
                        return request
                self._pos = reader.read(self._buf, self._pos, body)
                if not reader.done:
                    self._compact()
                    return None
            elif self._state is FAILED:
                raise BadRequest("connection already failed")
        except ProtocolError:
            self._enter(FAILED)
            raise
        request = self._pending
        assert request is not None
        self._finish_message()
        return request

    # -- streamed bodies (BodyStream calls these) ---------------------------------

    def _stream_read(self) -> tuple[bytes, bool]:
        """Body bytes of the streamed request now buffered, and whether the body
        is complete (the parser then waits for the next request's head)."""
        reader = self._reader
        assert self._streaming and reader is not None
        sink = MemoryBody()
        try:
            self._pos = reader.read(self._buf, self._pos, sink)
        except ProtocolError:
            self._enter(FAILED)
            self._streaming = False
            raise
        if not reader.done:
            self._compact()
            return bytes(sink), False
        request = self._pending
        assert request is not None
        if reader.trailers:
            request.trailers = reader.trailers
        self._streaming = False
        self._finish_message()
        return bytes(sink), True

    def _stream_abandoned(self) -> None:
        """The application answered without reading the whole body: nothing more
        can be parsed on this connection (the server closes it)."""
        if self._streaming:
            self._streaming = False
            self._enter(FAILED)

    # -- state transitions -----------------------------------------------------

    def _enter(self, state: str, reader: BodyReader | None = None) -> None:
        """The one place the parser's state changes (see the module docstring)."""
        self._state = state
        self._reader = reader

    def _finish_message(self) -> None:
        request = self._pending
        assert request is not None
        reader = self._reader
        body = self._body
        if reader is not None and body is not None:
            body.finish(request)
            if reader.trailers:
                request.trailers = reader.trailers
            self._body = None
        self._pending = None
        self._expect_continue = False
        self._enter(HEAD)
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
            self._scan_from = 0
        else:
            self._compact()
            self._scan_from = self._pos

    def _compact(self) -> None:
        if self._pos > 65536:
            del self._buf[: self._pos]
            self._scan_from = max(0, self._scan_from - self._pos)
            self._pos = 0

    # -- head ------------------------------------------------------------------

    def _parse_head(self) -> bool:
        buf = self._buf
        pos = self._pos
        limits = self.limits
        # Leading empty lines before a request are ignored (RFC 9112 §2.2).
        while buf.startswith(b"\r\n", pos):
            pos += 2
        self._pos = pos
        if pos == len(buf) or (len(buf) - pos == 1 and buf[pos] == 0x0D):
            return False
        end = buf.find(b"\r\n\r\n", max(pos, self._scan_from))
        if end < 0:
            # A bare LF would leave the head unterminated until the header
            # timeout: reject it as soon as it arrives.
            lf = buf.find(b"\n", max(pos, self._scan_from))
            while lf >= 0:
                if lf == pos or buf[lf - 1] != 0x0D:
                    raise BadRequest("bare LF in request head")
                lf = buf.find(b"\n", lf + 1)
            self._scan_from = max(pos, len(buf) - 3)
            line_end = buf.find(b"\r\n", pos)
            # (a CR just received may be the first half of the line's CRLF)
            if line_end < 0 and len(buf) - pos - (buf[-1] == 0x0D) > limits.max_request_line:
                _reject_long_line(buf[pos : pos + limits.max_request_line].decode("latin-1"))
            if line_end > pos + limits.max_request_line:
                _reject_long_line(buf[pos:line_end].decode("latin-1"))
            if len(buf) - pos > limits.max_header_bytes:
                raise HeaderFieldsTooLarge("request header block too large")
            return False
        if end + 4 - pos > limits.max_header_bytes:
            raise HeaderFieldsTooLarge("request header block too large")
        text = buf[pos:end].decode("latin-1")
        self._pos = end + 4
        self._scan_from = self._pos
        self._start_request(text)
        return True

    def _start_request(self, text: str) -> None:
        limits = self.limits
        line_end = text.find("\r\n")
        request_line = text if line_end < 0 else text[:line_end]
        if len(request_line) > limits.max_request_line:
            _reject_long_line(request_line)
        method, target, version = _parse_request_line(request_line)
        headers = _parse_fields(text[line_end + 2 :], limits) if line_end >= 0 else []
        path, query, authority = _split_target(method, target)

        # Header semantics: Host, framing, connection, expectations. Field values
        # are split and trimmed on SP/HTAB only (never other Unicode space):
        # ``Transfer-Encoding: \xa0chunked`` is not chunked.
        host_count = 0
        content_length: int | None = None
        transfer_encoding: list[str] | None = None
        connection_tokens: list[str] = []
        expect: str | None = None
        for name, value in headers:
            if name == "host":
                host_count += 1
                if not _valid_host(value):
                    raise BadRequest("invalid Host header")
            elif name == "content-length":
                content_length = _merge_content_length(content_length, value, limits)
            elif name == "transfer-encoding":
                codings = [c.strip(OWS).lower() for c in value.split(",")]
                transfer_encoding = (transfer_encoding or []) + codings
            elif name == "connection":
                connection_tokens.extend(t.strip(OWS).lower() for t in value.split(","))
            elif name == "expect":
                expect = value.strip(OWS).lower()

        if version == "1.1" and host_count == 0:
            raise BadRequest("missing Host header")
        if host_count > 1:
            raise BadRequest("duplicate Host header")
        if authority is not None:
            # An absolute-form target names the host: the Host field is ignored
            # and replaced by the target's authority (RFC 9112 §3.2.2).
            headers = [(n, authority if n == "host" else v) for n, v in headers]
            if host_count == 0:
                headers.append(("host", authority))

        if version == "1.1":
            keep_alive = "close" not in connection_tokens
        else:
            keep_alive = "keep-alive" in connection_tokens and "close" not in connection_tokens

        self._pending = HTTPRequest(
            method,
            target,
            path,
            query,
            version,
            headers,
            b"",
            client=self.client,
            server=self.server,
            scheme=self.scheme,
            keep_alive=keep_alive,
        )
        self._continue_acknowledged = False
        self._expect_continue = False

        reader: BodyReader
        if transfer_encoding is not None:
            if content_length is not None:
                raise BadRequest("both Content-Length and Transfer-Encoding")
            if version == "1.0":
                raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
            if any(not c or TOKEN.fullmatch(c) is None for c in transfer_encoding):
                raise BadRequest("malformed Transfer-Encoding")
            if transfer_encoding != ["chunked"]:
                raise MethodNotImplemented("unsupported transfer coding")
            reader = ChunkedReader(
                limits.max_body_bytes, limits.max_headers, limits.max_header_bytes
            )
        elif content_length is not None and content_length > 0:
            if content_length > limits.max_body_bytes:
                raise ContentTooLarge("request body too large")
            reader = ContentLengthReader(content_length)
        else:
            return  # no body: the request is complete already

        if expect is not None and version == "1.1":
            if expect != "100-continue":
                raise ExpectationFailed("unsupported expectation")
            self._expect_continue = True
        self._body = self._body_factory()
        self._enter(BODY, reader)


# -- the pieces of a head ----------------------------------------------------------


def _reject_long_line(line: str) -> None:
    if "\n" in line or " " not in line:
        raise BadRequest("malformed request line")
    raise URITooLong("request target too long")


def _parse_request_line(line: str) -> tuple[str, str, str]:
    """``(method, target, version)`` of a request line (``version`` is "1.1"/"1.0")."""
    # Fast path for the usual "METHOD /target HTTP/1.x": a known method, a
    # target of visible ASCII (isprintable() excludes CTLs; split() already
    # excluded spaces) and an exact version; anything else takes the regex.
    parts = line.split(" ")
    if len(parts) == 3:
        method = canonical_method(parts[0])
        tail = parts[2]
        version = "1.1" if tail == "HTTP/1.1" else "1.0" if tail == "HTTP/1.0" else None
        target = parts[1]
        if (
            method is not None
            and version is not None
            and target
            and target.isascii()
            and target.isprintable()
        ):
            return method, target, version
    match = REQUEST_LINE.fullmatch(line)
    if match is None:
        other = VERSIONISH.fullmatch(line)
        if other is not None and other.group(1) != "1":
            raise VersionNotSupported("HTTP version not supported")
        raise BadRequest("malformed request line")
    token, target, major, minor = match.groups()
    if major != "1":
        raise VersionNotSupported("HTTP version not supported")
    canonical = canonical_method(token)
    if canonical is None:
        raise MethodNotImplemented(f"method {token} not implemented")
    # the interned constant, not a fresh string per request
    return canonical, target, "1.0" if minor == "0" else "1.1"


def _parse_fields(block: str, limits: Limits) -> list[tuple[str, str]]:
    """The header fields of a head (the lines after the request line)."""
    lines = block.split("\r\n")
    if len(lines) > limits.max_headers:
        raise HeaderFieldsTooLarge("too many request header fields")
    headers: list[tuple[str, str]] = []
    append = headers.append
    for line in lines:
        name, sep, value = line.partition(":")
        # Letters, digits and hyphens (nearly every real name) are checked
        # with str methods; only unusual names pay for the token regex.
        if not (sep and name.isascii() and name.replace("-", "").isalnum()) and (
            not sep or TOKEN.fullmatch(name) is None
        ):
            raise _field_error(line)
        value = value.strip(OWS)
        # isprintable() is False for every CTL (and HTAB, and some
        # obs-text): only then pay for the precise check.
        if not value.isprintable() and BAD_VALUE_CHAR.search(value) is not None:
            raise BadRequest("invalid character in header value")
        append((name.lower(), value))
    return headers


def _field_error(line: str) -> ProtocolError:
    """The precise error for a field line that failed the fast checks."""
    try:
        parse_field(line)
    except ProtocolError as exc:
        return exc
    return BadRequest("malformed header line")


def _valid_host(value: str) -> bool:
    """Host = uri-host [":" port]: no spaces, userinfo, path or query (RFC 9112 §3.2)."""
    # The usual "name.example:8000" / "127.0.0.1:8000" pass with str methods.
    if value.isascii() and value.replace(".", "").replace("-", "").replace(":", "").isalnum():
        return value.count(":") <= 1
    return HOST.fullmatch(value) is not None


def _merge_content_length(current: int | None, value: str, limits: Limits) -> int:
    """Content-Length must be digits only; repeats must agree (RFC 9110 §8.6)."""
    result = current
    for item in value.split(","):
        item = item.strip(OWS)
        if not item.isdigit() or not item.isascii():
            raise BadRequest("invalid Content-Length")
        digits = item.lstrip("0") or "0"
        if len(digits) > 18:  # more than any body we accept (and than int() parses)
            raise ContentTooLarge("request body too large")
        length = int(digits)
        if result is not None and result != length:
            raise BadRequest("conflicting Content-Length values")
        result = length
    assert result is not None
    return result


def _split_target(method: str, target: str) -> tuple[str, str, str | None]:
    """Return (path, query, authority) for a request-target, validating its form
    (``authority`` only for the absolute form)."""
    if "#" in target:
        raise BadRequest("fragment in request target")
    if target[0] == "/":
        path, _, query = target.partition("?")
        return path, query, None
    if target == "*":
        if method != "OPTIONS":
            raise BadRequest("asterisk-form is only valid for OPTIONS")
        return "*", "", None
    lowered = target[:8].lower()
    if lowered.startswith("http://") or lowered.startswith("https://"):
        rest = target[target.index("//") + 2 :]
        slash = len(rest)
        for sep in "/?":
            idx = rest.find(sep)
            if 0 <= idx < slash:
                slash = idx
        authority, rest = rest[:slash], rest[slash:]
        if not authority or AUTHORITY.fullmatch(authority) is None:
            raise BadRequest("invalid authority in absolute-form target")
        path, _, query = rest.partition("?")
        return path or "/", query, authority
    raise BadRequest("invalid request target")


class BodyStream:
    """A request body handed to the application while it arrives (sans-I/O).

    :meth:`read` gives the next piece; when the parser has nothing buffered it
    calls :attr:`fill`, which the server sets to a function that waits (up to
    its body timeout) for more bytes and feeds them to the parser, answering
    ``100 Continue`` first if the client asked for it. Raises the parser's
    :class:`ProtocolError` for an invalid or too large body, and whatever
    ``fill`` raises (:class:`RequestTimeout` when the client stalls)."""

    __slots__ = ("_parser", "done", "failed", "fill", "received")

    def __init__(self, parser: RequestParser) -> None:
        self._parser = parser
        #: set by the server: ``fill()`` waits for more input and feeds the parser
        self.fill: Callable[[], None] | None = None
        #: the whole body was read
        self.done = False
        #: reading failed (the connection cannot be reused)
        self.failed = False
        self.received = 0

    def read(self) -> bytes:
        """The next piece of the body; ``b""`` once it is complete."""
        if self.done:
            return b""
        if self.failed:
            raise BadRequest("the request body could not be read")
        try:
            while True:
                data, complete = self._parser._stream_read()
                if complete:
                    self.done = True
                if data or complete:
                    self.received += len(data)
                    return data
                fill = self.fill
                if fill is None:
                    raise BadRequest("the request body is incomplete")
                fill()
        except BaseException:
            self.failed = True
            self._parser._stream_abandoned()
            raise

    def __iter__(self) -> Iterator[bytes]:
        while data := self.read():
            yield data

    def abandon(self) -> None:
        """The application is done without reading it all (see
        :meth:`RequestParser._stream_abandoned`)."""
        if not self.done:
            self.failed = True
            self._parser._stream_abandoned()
