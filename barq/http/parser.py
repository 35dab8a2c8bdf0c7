"""Strict HTTP/1.1 request parsing (RFC 9112), sans-I/O.

:class:`RequestParser` is the server side of one connection: feed it bytes as they
arrive, ask it for complete requests. It never touches a socket and never blocks::

    parser = RequestParser(limits)
    parser.feed(data)
    while (request := parser.next_request()) is not None:
        ...  # answer it

Anything the parser cannot accept raises :class:`ProtocolError` carrying the
status code to answer with; after that the connection must be closed (the
parser refuses further input). Ambiguous framing — the root of request
smuggling — is always rejected rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from barq.http.messages import HTTPRequest

__all__ = [
    "KNOWN_METHODS",
    "Limits",
    "ProtocolError",
    "RequestParser",
]

#: Methods the parser accepts; anything else that is a valid token gets 501.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"})

# RFC 9110 token characters.
_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_VERSIONISH = re.compile(rb"[^ ]+ [^ ]+ HTTP/([0-9]+)\.([0-9]+)")
_HEADER_NAME = re.compile(rb"[" + _TCHAR + rb"]+")
# A field value: no CTLs except HTAB (so no NUL, CR, LF), obs-text allowed.
_BAD_VALUE_CHAR = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_CHUNK_EXT = re.compile(
    rb"(?:[ \t]*;[ \t]*[" + _TCHAR + rb"]+(?:[ \t]*=[ \t]*(?:[" + _TCHAR + rb"]+"
    rb"|\"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*\"))?)*[ \t]*"
)
_TCHAR_STR = _TCHAR.decode("ascii")
_REQUEST_LINE_STR = re.compile("([" + _TCHAR_STR + "]+) ([\x21-\x7e]+) HTTP/([0-9])\\.([0-9])")
_TOKEN_STR = re.compile("[" + _TCHAR_STR + "]+")
_BAD_VALUE_CHAR_STR = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_AUTHORITY = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:@\[\]]*")
_HEX = re.compile(rb"[0-9A-Fa-f]+")

# Parser states.
_HEAD = 0
_BODY_LENGTH = 1
_CHUNK_SIZE_LINE = 2
_CHUNK_DATA = 3
_CHUNK_TRAILERS = 4
_DEAD = 5

_MAX_CHUNK_LINE = 4096


class ProtocolError(Exception):
    """The request cannot be accepted; answer ``status`` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"ProtocolError({self.status}, {self.message!r})"


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

    ``client``/``server``/``scheme`` are copied onto every request produced.
    """

    __slots__ = (
        "_body_parts",
        "_body_size",
        "_buf",
        "_continue_acknowledged",
        "_expect_continue",
        "_pending",
        "_pos",
        "_remaining",
        "_scan_from",
        "_state",
        "_trailers",
        "client",
        "limits",
        "scheme",
        "server",
    )

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        *,
        client: tuple[str, int] | None = None,
        server: tuple[str, int] | None = None,
        scheme: str = "http",
    ) -> None:
        self.limits = limits
        self.client = client
        self.server = server
        self.scheme = scheme
        self._buf = bytearray()
        self._pos = 0
        self._scan_from = 0
        self._state = _HEAD
        self._pending: HTTPRequest | None = None
        self._remaining = 0
        self._body_parts: list[bytes] = []
        self._body_size = 0
        self._trailers: list[tuple[str, str]] = []
        self._expect_continue = False
        self._continue_acknowledged = False

    # -- input -----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        if self._state == _DEAD:
            raise ProtocolError(400, "connection already failed")
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
            self._scan_from = 0
        self._buf += data

    # -- state queries used by the server --------------------------------------

    @property
    def has_partial_request(self) -> bool:
        """True when some bytes of a not yet complete request have arrived."""
        return self._state != _HEAD or self._pos < len(self._buf)

    @property
    def reading_body(self) -> bool:
        """True when the head is parsed and the body is still arriving."""
        return _BODY_LENGTH <= self._state <= _CHUNK_TRAILERS

    @property
    def wants_continue(self) -> bool:
        """True when the client waits for ``100 Continue`` before sending the body."""
        return (
            self._expect_continue
            and not self._continue_acknowledged
            and self.reading_body
            and self._body_size == 0
            and self._pos == len(self._buf)
        )

    def continue_sent(self) -> None:
        """Record that ``100 Continue`` was sent for the current request."""
        self._continue_acknowledged = True

    @property
    def buffered(self) -> int:
        """Number of received bytes not yet consumed."""
        return len(self._buf) - self._pos

    # -- output ----------------------------------------------------------------

    def next_request(self) -> HTTPRequest | None:
        """Return the next complete request, or None if more bytes are needed.

        Raises :class:`ProtocolError` for anything that is not a valid request.
        """
        try:
            if self._state == _HEAD and not self._parse_head():
                return None
            if self._state == _BODY_LENGTH:
                if not self._read_length_body():
                    return None
            elif _CHUNK_SIZE_LINE <= self._state <= _CHUNK_TRAILERS and not self._read_chunked():
                return None
            if self._state == _DEAD:
                raise ProtocolError(400, "connection already failed")
        except ProtocolError:
            self._state = _DEAD
            raise
        request = self._pending
        assert request is not None
        self._finish_message()
        return request

    # -- head ------------------------------------------------------------------

    def _parse_head(self) -> bool:
        buf = self._buf
        pos = self._pos
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
                    raise ProtocolError(400, "bare LF in request head")
                lf = buf.find(b"\n", lf + 1)
            self._scan_from = max(pos, len(buf) - 3)
            line_end = buf.find(b"\r\n", pos)
            # (a CR just received may be the first half of the line's CRLF)
            if line_end < 0 and len(buf) - pos - (buf[-1] == 0x0D) > self.limits.max_request_line:
                self._reject_long_line(bytes(buf[pos : pos + self.limits.max_request_line]))
            if line_end > pos + self.limits.max_request_line:
                self._reject_long_line(bytes(buf[pos:line_end]))
            if len(buf) - pos > self.limits.max_header_bytes:
                raise ProtocolError(431, "request header block too large")
            return False
        if end + 4 - pos > self.limits.max_header_bytes:
            raise ProtocolError(431, "request header block too large")
        head = bytes(buf[pos:end])
        self._pos = end + 4
        self._scan_from = self._pos
        self._start_request(head)
        return True

    def _reject_long_line(self, line: bytes) -> None:
        if b"\n" in line or b" " not in line:
            raise ProtocolError(400, "malformed request line")
        raise ProtocolError(414, "request target too long")

    def _start_request(self, head: bytes) -> None:
        text = head.decode("latin-1")
        line_end = text.find("\r\n")
        request_line = text if line_end < 0 else text[:line_end]
        if len(request_line) > self.limits.max_request_line:
            self._reject_long_line(request_line.encode("latin-1"))
        # Fast path for the usual "METHOD /target HTTP/1.x": a known method, a
        # target of visible ASCII (isprintable() excludes CTLs; split() already
        # excluded spaces) and an exact version; anything else takes the regex.
        parts = request_line.split(" ")
        method_or_none = _known_method(parts[0]) if len(parts) == 3 else None
        version_or_none: str | None = None
        if method_or_none is not None:
            tail = parts[2]
            version_or_none = "1.1" if tail == "HTTP/1.1" else "1.0" if tail == "HTTP/1.0" else None
        target = parts[1] if version_or_none is not None else ""
        if target and target.isascii() and target.isprintable():
            assert method_or_none is not None and version_or_none is not None
            method, version = method_or_none, version_or_none
        else:
            match = _REQUEST_LINE_STR.fullmatch(request_line)
            if match is None:
                other = _VERSIONISH.fullmatch(request_line.encode("latin-1"))
                if other is not None and other.group(1) != b"1":
                    raise ProtocolError(505, "HTTP version not supported")
                raise ProtocolError(400, "malformed request line")
            method, target, major, minor = match.groups()
            if major != "1":
                raise ProtocolError(505, "HTTP version not supported")
            canonical = _known_method(method)
            if canonical is None:
                raise ProtocolError(501, f"method {method} not implemented")
            method = canonical  # the interned constant, not a fresh string per request
            version = "1.0" if minor == "0" else "1.1"

        headers: list[tuple[str, str]] = []
        if line_end >= 0:
            lines = text[line_end + 2 :].split("\r\n")
            if len(lines) > self.limits.max_headers:
                raise ProtocolError(431, "too many request header fields")
            append = headers.append
            for line in lines:
                name, sep, value = line.partition(":")
                # Letters, digits and hyphens (nearly every real name) are checked
                # with str methods; only unusual names pay for the token regex.
                if not (sep and name.isascii() and name.replace("-", "").isalnum()) and (
                    not sep or _TOKEN_STR.fullmatch(name) is None
                ):
                    raise _field_error(line)
                lowered = name.lower()
                value = value.strip(" \t")
                # isprintable() is False for every CTL (and HTAB, and some
                # obs-text): only then pay for the precise check.
                if not value.isprintable() and _BAD_VALUE_CHAR_STR.search(value) is not None:
                    raise ProtocolError(400, "invalid character in header value")
                append((lowered, value))

        path, query = _split_target(method, target)

        # Header semantics: Host, framing, connection, expectations.
        host_count = 0
        content_length: int | None = None
        transfer_encoding: list[str] | None = None
        connection_tokens: list[str] = []
        expect: str | None = None
        for name, value in headers:
            if name == "host":
                host_count += 1
            elif name == "content-length":
                content_length = _merge_content_length(content_length, value)
            elif name == "transfer-encoding":
                codings = [c.strip().lower() for c in value.split(",")]
                transfer_encoding = (transfer_encoding or []) + codings
            elif name == "connection":
                connection_tokens.extend(t.strip().lower() for t in value.split(","))
            elif name == "expect":
                expect = value.strip().lower()

        if version == "1.1" and host_count == 0:
            raise ProtocolError(400, "missing Host header")
        if host_count > 1:
            raise ProtocolError(400, "duplicate Host header")

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
        self._body_parts = []
        self._body_size = 0
        self._trailers = []
        self._continue_acknowledged = False
        self._expect_continue = False

        if transfer_encoding is not None:
            if content_length is not None:
                raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
            if version == "1.0":
                raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
            if "" in transfer_encoding:
                raise ProtocolError(400, "malformed Transfer-Encoding")
            if transfer_encoding != ["chunked"]:
                raise ProtocolError(501, "unsupported transfer coding")
            self._state = _CHUNK_SIZE_LINE
        elif content_length is not None and content_length > 0:
            if content_length > self.limits.max_body_bytes:
                raise ProtocolError(413, "request body too large")
            self._remaining = content_length
            self._state = _BODY_LENGTH
        else:
            self._state = _HEAD  # no body: complete already
            return

        if expect is not None and version == "1.1":
            if expect != "100-continue":
                raise ProtocolError(417, "unsupported expectation")
            self._expect_continue = True

    # -- bodies ----------------------------------------------------------------

    def _read_length_body(self) -> bool:
        available = len(self._buf) - self._pos
        if available <= 0:
            return False
        take = min(available, self._remaining)
        self._body_parts.append(bytes(self._buf[self._pos : self._pos + take]))
        self._pos += take
        self._body_size += take
        self._remaining -= take
        if self._remaining:
            self._compact()
            return False
        return True

    def _read_chunked(self) -> bool:
        buf = self._buf
        limits = self.limits
        while True:
            if self._state == _CHUNK_SIZE_LINE:
                eol = buf.find(b"\r\n", self._pos)
                if eol < 0:
                    if len(buf) - self._pos > _MAX_CHUNK_LINE:
                        raise ProtocolError(400, "chunk size line too long")
                    self._compact()
                    return False
                line = bytes(buf[self._pos : eol])
                if len(line) > _MAX_CHUNK_LINE:
                    raise ProtocolError(400, "chunk size line too long")
                semi = line.find(b";")
                size_part = line if semi < 0 else line[:semi]
                size_part = size_part.rstrip(b" \t")
                if _CHUNK_SIZE.fullmatch(size_part) is None:
                    if _HEX.fullmatch(size_part):
                        raise ProtocolError(400, "chunk size too large")
                    raise ProtocolError(400, "invalid chunk size")
                if semi >= 0 and _CHUNK_EXT.fullmatch(line[semi:]) is None:
                    raise ProtocolError(400, "invalid chunk extension")
                size = int(size_part, 16)
                self._pos = eol + 2
                if size == 0:
                    self._state = _CHUNK_TRAILERS
                    continue
                if self._body_size + size > limits.max_body_bytes:
                    raise ProtocolError(413, "request body too large")
                self._remaining = size
                self._state = _CHUNK_DATA
            elif self._state == _CHUNK_DATA:
                available = len(buf) - self._pos
                if self._remaining:
                    if available <= 0:
                        self._compact()
                        return False
                    take = min(available, self._remaining)
                    self._body_parts.append(bytes(buf[self._pos : self._pos + take]))
                    self._pos += take
                    self._body_size += take
                    self._remaining -= take
                    if self._remaining:
                        self._compact()
                        return False
                    available = len(buf) - self._pos
                if available < 2:
                    if available == 1 and buf[self._pos] != 0x0D:
                        raise ProtocolError(400, "chunk data longer than its declared size")
                    self._compact()
                    return False
                if buf[self._pos] != 0x0D or buf[self._pos + 1] != 0x0A:
                    raise ProtocolError(400, "chunk data longer than its declared size")
                self._pos += 2
                self._state = _CHUNK_SIZE_LINE
            else:  # trailers
                eol = buf.find(b"\r\n", self._pos)
                if eol < 0:
                    if len(buf) - self._pos > limits.max_header_bytes:
                        raise ProtocolError(431, "trailer section too large")
                    self._compact()
                    return False
                line = bytes(buf[self._pos : eol])
                self._pos = eol + 2
                if not line:
                    return True
                if len(self._trailers) >= limits.max_headers:
                    raise ProtocolError(431, "too many trailer fields")
                self._trailers.append(_parse_field(line))

    def _compact(self) -> None:
        if self._pos > 65536:
            del self._buf[: self._pos]
            self._scan_from = max(0, self._scan_from - self._pos)
            self._pos = 0

    def _finish_message(self) -> None:
        request = self._pending
        assert request is not None
        parts = self._body_parts
        if parts:
            request.body = parts[0] if len(parts) == 1 else b"".join(parts)
        if self._trailers:
            request.trailers = self._trailers
        self._pending = None
        self._body_parts = []
        self._body_size = 0
        self._trailers = []
        self._expect_continue = False
        self._state = _HEAD
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
            self._scan_from = 0
        else:
            self._compact()
            self._scan_from = self._pos


def _parse_field(line: bytes) -> tuple[str, str]:
    """Parse one ``name: value`` line (header or trailer)."""
    if not line:
        raise ProtocolError(400, "empty header line")
    if line[0] in (0x20, 0x09):
        raise ProtocolError(400, "obsolete line folding is not allowed")
    colon = line.find(b":")
    if colon <= 0:
        raise ProtocolError(400, "malformed header line")
    name = line[:colon]
    if _HEADER_NAME.fullmatch(name) is None:
        raise ProtocolError(400, "invalid header name")
    value = line[colon + 1 :].strip(b" \t")
    if _BAD_VALUE_CHAR.search(value) is not None:
        raise ProtocolError(400, "invalid character in header value")
    return name.decode("ascii").lower(), value.decode("latin-1")


def _known_method(method: str) -> str | None:
    """The method as a string literal (immortal, identical for every request), or None.

    Comparisons against literals touch no shared object: under free-threading a
    lookup in a module-level dict makes every worker thread bounce that dict's
    reference count between cores.
    """
    if method == "GET":
        return "GET"
    if method == "POST":
        return "POST"
    if method == "HEAD":
        return "HEAD"
    if method == "PUT":
        return "PUT"
    if method == "DELETE":
        return "DELETE"
    if method == "PATCH":
        return "PATCH"
    if method == "OPTIONS":
        return "OPTIONS"
    if method == "TRACE":
        return "TRACE"
    return None


def _field_error(line: str) -> ProtocolError:
    """The precise error for a field line that failed the fast checks."""
    try:
        _parse_field(line.encode("latin-1"))
    except ProtocolError as exc:
        return exc
    return ProtocolError(400, "malformed header line")


def _merge_content_length(current: int | None, value: str) -> int:
    """Content-Length must be digits only; repeats must agree (RFC 9110 §8.6)."""
    result = current
    for item in value.split(","):
        item = item.strip(" \t")
        if not item.isdigit() or not item.isascii():
            raise ProtocolError(400, "invalid Content-Length")
        length = int(item)
        if result is not None and result != length:
            raise ProtocolError(400, "conflicting Content-Length values")
        result = length
    assert result is not None
    return result


def _split_target(method: str, target: str) -> tuple[str, str]:
    """Return (path, query) for a request-target, validating its form."""
    if "#" in target:
        raise ProtocolError(400, "fragment in request target")
    if target[0] == "/":
        path, _, query = target.partition("?")
        return path, query
    if target == "*":
        if method != "OPTIONS":
            raise ProtocolError(400, "asterisk-form is only valid for OPTIONS")
        return "*", ""
    lowered = target[:8].lower()
    if lowered.startswith("http://") or lowered.startswith("https://"):
        rest = target[target.index("//") + 2 :]
        slash = len(rest)
        for sep in "/?":
            idx = rest.find(sep)
            if 0 <= idx < slash:
                slash = idx
        authority, rest = rest[:slash], rest[slash:]
        if not authority or _AUTHORITY.fullmatch(authority) is None:
            raise ProtocolError(400, "invalid authority in absolute-form target")
        path, _, query = rest.partition("?")
        return path or "/", query
    raise ProtocolError(400, "invalid request target")
