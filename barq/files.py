"""File responses: send a file from disk with ``sendfile``, ranges and caching.

:class:`FileResponse` hands the file to the server as a
:class:`~barq.http.messages.FileBody` (the server sends it with
``os.sendfile``, never reading it into Python) and speaks the HTTP caching and
range rules a browser or download manager expects:

- ``Content-Type`` from ``media_type`` or guessed from the name (:mod:`mimetypes`),
  ``Content-Length``, ``Last-Modified``, ``ETag`` and ``Accept-Ranges: bytes``;
- ``If-None-Match`` / ``If-Modified-Since`` → ``304 Not Modified``;
- a single ``Range: bytes=a-b`` (also ``a-`` and ``-n``) → ``206 Partial Content``
  with ``Content-Range``; an unsatisfiable one → ``416`` with
  ``Content-Range: bytes */size``; ``If-Range`` is honoured;
- several ranges in one header are answered with the whole file (``200``), which
  RFC 9110 allows; so are syntactically invalid ``Range`` headers;
- ``filename=`` adds ``Content-Disposition`` (RFC 6266, with an RFC 5987
  ``filename*`` for non-ASCII names).

Import it from :mod:`barq.responses` or :mod:`barq`.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Callable, Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import quote

from barq import jsonlib
from barq.http.messages import FileBody, HTTPResponse
from barq.responses import Response

__all__ = [
    "FileResponse",
    "content_disposition",
    "guess_media_type",
    "parse_range",
]

_NOT_FOUND = jsonlib.dumps({"detail": "Not Found"})


def guess_media_type(path: str | os.PathLike[str]) -> str:
    """The media type for a file name (``application/octet-stream`` when unknown)."""
    media_type, _ = mimetypes.guess_type(os.fspath(path), strict=False)
    return media_type or "application/octet-stream"


def content_disposition(
    filename: str, disposition: Literal["attachment", "inline"] = "attachment"
) -> str:
    """A ``Content-Disposition`` value naming ``filename``.

    ASCII names are sent as a quoted ``filename="..."``; others get an ASCII
    fallback plus ``filename*=UTF-8''...`` (RFC 5987 / RFC 6266).
    """
    name = filename.replace("\r", "").replace("\n", "")
    try:
        name.encode("ascii")
        ascii_only = True
    except UnicodeEncodeError:
        ascii_only = False
    if ascii_only:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'{disposition}; filename="{escaped}"'
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def parse_range(value: str, size: int) -> tuple[int, int] | Literal[False] | None:
    """Interpret a ``Range`` header for a representation of ``size`` bytes.

    Returns ``(start, end)`` (inclusive) for one satisfiable byte range, ``None``
    when the header must be ignored (another unit, several ranges, bad syntax:
    the whole representation is sent) and ``False`` when it is unsatisfiable
    (answer 416).
    """
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:
        ranges = [part.strip() for part in spec.split(",") if part.strip()]
        if len(ranges) != 1:
            return None  # multi-range: answered with the full representation
        spec = ranges[0]
    first, dash, last = spec.partition("-")
    first, last = first.strip(" \t"), last.strip(" \t")
    if not dash or (first and not _is_digits(first)) or (last and not _is_digits(last)):
        return None
    if not first:
        if not last:
            return None
        suffix = _position(last)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    start = _position(first)
    end = _position(last) if last else size - 1
    if last and end < start:
        return None  # invalid range-spec: ignore the header
    if start >= size:
        return False
    return start, min(end, size - 1)


def _is_digits(text: str) -> bool:
    # ASCII digits only: str.isdigit() is also True for "²" or "٣"
    return text.isascii() and text.isdigit()


def _position(digits: str) -> int:
    """A byte position; positions beyond any file (and int() limits) are clamped."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of ``etag`` against an ``If-None-Match`` / ``If-Range`` list."""
    if header.strip() == "*":
        return True
    target = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == target for candidate in header.split(","))


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since is None or since.tzinfo is None:
        return False
    return int(mtime) <= since.timestamp()


class FileResponse(Response):
    """Send the file at ``path`` (see the module docstring for the HTTP details).

    - ``media_type``: the ``Content-Type`` (default: guessed from ``filename`` or
      ``path``; ``text/*`` types get ``; charset=utf-8``).
    - ``filename``: adds ``Content-Disposition: attachment; filename=...`` (use
      ``content_disposition_type="inline"`` to let the browser display it).
    - ``stat_result``: an ``os.stat_result`` you already have (saves a syscall).

    The file is looked at when the response is sent; if it does not exist (or is
    not a regular file) then, the answer is ``404``.
    """

    __slots__ = ("content_disposition_type", "filename", "path", "stat_result")

    buffered = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Callable[[], Any] | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        content_disposition_type: Literal["attachment", "inline"] = "attachment",
    ) -> None:
        if media_type is None:
            media_type = guess_media_type(filename or path)
        super().__init__(None, status_code, headers, media_type, background)
        self.path = path
        self.filename = filename
        self.stat_result = stat_result
        self.content_disposition_type = content_disposition_type
        if filename is not None and "content-disposition" not in self.headers:
            self.headers["content-disposition"] = content_disposition(
                filename, content_disposition_type
            )

    def to_http(self, request: Any = None) -> HTTPResponse:
        """Stat the file, apply conditional and range headers, return a ``FileBody``."""
        st = self.stat_result
        if st is None:
            try:
                st = os.stat(self.path)
            except (FileNotFoundError, NotADirectoryError):
                st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            return HTTPResponse(
                404, [("content-type", "application/json")], _NOT_FOUND, on_complete=self.background
            )
        size = st.st_size
        headers = self.headers
        etag = headers.get("etag")
        if etag is None:
            etag = f'"{st.st_mtime_ns:x}-{size:x}"'
            headers["etag"] = etag
        if "last-modified" not in headers:
            headers["last-modified"] = formatdate(st.st_mtime, usegmt=True)
        headers.setdefault("accept-ranges", "bytes")

        raw = getattr(request, "raw", request)
        method = getattr(raw, "method", "GET")
        if self.status_code != 200 or method not in ("GET", "HEAD") or raw is None:
            return self._file_response(self.status_code, FileBody(self.path))

        if_none_match = raw.header("if-none-match")
        if if_none_match is not None:
            if _etag_matches(if_none_match, etag):
                return self._not_modified()
        else:
            if_modified_since = raw.header("if-modified-since")
            if if_modified_since is not None and _not_modified_since(
                if_modified_since, st.st_mtime
            ):
                return self._not_modified()

        range_header = raw.header("range")
        if range_header is None:
            return self._file_response(200, FileBody(self.path))
        if_range = raw.header("if-range")
        if if_range is not None:
            if_range = if_range.strip()
            if if_range.startswith(('"', 'W/"')):
                fresh = if_range == etag and not etag.startswith("W/")
            else:
                fresh = _not_modified_since(if_range, st.st_mtime)
            if not fresh:
                return self._file_response(200, FileBody(self.path))
        selected = parse_range(range_header, size)
        if selected is None:
            return self._file_response(200, FileBody(self.path))
        if selected is False:
            out = [
                (k, v)
                for k, v in headers.raw
                if k not in ("content-type", "content-disposition", "etag", "last-modified")
            ]
            out += [("content-range", f"bytes */{size}"), ("content-type", "text/plain")]
            return HTTPResponse(416, out, b"Range Not Satisfiable", on_complete=self.background)
        start, end = selected
        headers["content-range"] = f"bytes {start}-{end}/{size}"
        return self._file_response(206, FileBody(self.path, start, end - start + 1))

    def _file_response(self, status: int, body: FileBody) -> HTTPResponse:
        saved = self.status_code
        self.status_code = status
        try:
            headers = self._header_list()
        finally:
            self.status_code = saved
        return HTTPResponse(status, headers, file=body, on_complete=self.background)

    def _not_modified(self) -> HTTPResponse:
        keep = ("etag", "last-modified", "cache-control", "expires", "vary", "content-location")
        out = [(k, v) for k, v in self.headers.raw if k in keep or k == "set-cookie"]
        return HTTPResponse(304, out, b"", on_complete=self.background)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code} {os.fspath(self.path)!r}>"
