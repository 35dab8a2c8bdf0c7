"""Response serialisation for HTTP/1.1, sans-I/O: status + headers in, bytes out."""

from __future__ import annotations

import http
import time
from email.utils import formatdate

from barq.http.grammar import TOKEN

__all__ = [
    "LAST_CHUNK",
    "ResponseHeaderError",
    "encode_chunk",
    "error_response",
    "http_date",
    "reason_phrase",
    "response_head",
]

LAST_CHUNK = b"0\r\n\r\n"
SERVER_NAME = "barq"

_REASONS: dict[int, str] = {s.value: s.phrase for s in http.HTTPStatus}
_REASONS[413] = "Content Too Large"
_REASONS[422] = "Unprocessable Content"
_STATUS_LINES: dict[int, str] = {
    code: f"HTTP/1.1 {code} {phrase}\r\n" for code, phrase in _REASONS.items()
}


class ResponseHeaderError(ValueError):
    """A response header would break the message framing (CR, LF, NUL, bad name)."""


def reason_phrase(status: int) -> str:
    """The standard reason phrase for ``status`` ("" when unknown)."""
    return _REASONS.get(status, "")


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The current time as an IMF-fixdate, recomputed at most once per second."""
    global _date_cache
    now = int(time.time())
    cached = _date_cache
    if cached[0] != now:
        cached = (now, formatdate(now, usegmt=True))
        _date_cache = cached  # a plain rebinding: readers see the old or the new tuple
    return cached[1]


def response_head(
    status: int,
    headers: list[tuple[str, str]],
    *,
    content_length: int | None,
    chunked: bool = False,
    close: bool = False,
    keep_alive_header: bool = False,
    server: str = SERVER_NAME,
) -> bytes:
    """Serialise a status line and header block (ending with the blank line).

    ``content_length`` is written when not None; ``chunked`` adds
    ``Transfer-Encoding: chunked``; ``close`` adds ``Connection: close`` and
    ``keep_alive_header`` adds ``Connection: keep-alive`` (for HTTP/1.0 peers);
    ``server`` is the ``Server`` header's value (``""`` leaves the header out).
    Application headers named like the framing ones are dropped. Raises
    :class:`ResponseHeaderError` for names that are not tokens and for values
    containing CR, LF or NUL (response splitting).
    """
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ResponseHeaderError(f"invalid status code {status!r}")
        line = f"HTTP/1.1 {status} \r\n"
    parts = [line]
    append = parts.append
    for name, value in headers:
        # Names of letters, digits and hyphens (nearly all) pass without the
        # regex: shared regex objects are costly under free-threading.
        if not (name.isascii() and name.replace("-", "").isalnum()) and (
            TOKEN.fullmatch(name) is None
        ):
            raise ResponseHeaderError(f"invalid response header name {name!r}")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ResponseHeaderError(f"response header {name!r} contains CR, LF or NUL")
        lowered = name.lower()
        if (
            lowered == "content-length"
            or lowered == "transfer-encoding"
            or lowered == "connection"
            or lowered == "date"
            or lowered == "server"
        ):
            continue  # the server writes the framing headers itself
        append(f"{name}: {value}\r\n")
    if content_length is not None:
        append(f"content-length: {content_length}\r\n")
    if chunked:
        append("transfer-encoding: chunked\r\n")
    if close:
        append("connection: close\r\n")
    elif keep_alive_header:
        append("connection: keep-alive\r\n")
    if server:
        append(f"date: {http_date()}\r\nserver: {server}\r\n\r\n")
    else:
        append(f"date: {http_date()}\r\n\r\n")
    try:
        return "".join(parts).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ResponseHeaderError("response header is not latin-1 encodable") from exc


def encode_chunk(data: bytes) -> bytes:
    """Frame ``data`` as one chunk (empty data gives b"": never the last-chunk)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def error_response(
    status: int, message: str, *, close: bool = True, server: str = SERVER_NAME
) -> bytes:
    """A complete plain-text error response, e.g. for a rejected request."""
    body = f"{status} {reason_phrase(status)}: {message}\n".encode("utf-8", "replace")
    head = response_head(
        status,
        [("content-type", "text/plain; charset=utf-8")],
        content_length=len(body),
        close=close,
        server=server,
    )
    return head + body
