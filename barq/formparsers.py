"""Form bodies: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

:func:`parse_form` turns a complete form body into ``(name, value)`` pairs with
`python-multipart`'s sans-I/O parsers: ``str`` for plain fields and
:class:`~barq.datastructures.UploadFile` for file parts (spooled to a temporary
file past ``UploadFile.spool_max_size`` bytes). A malformed body or too many
parts raises :class:`~barq.exceptions.HTTPException` 400, a body that is not a
form 415. Validating the fields is the body plan's job (:mod:`barq.bodies`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import (
    MultipartParser,
    MultipartState,
    QuerystringParser,
    parse_options_header,
)

from barq.datastructures import Headers, UploadFile
from barq.exceptions import HTTPException
from barq.params import FORM_URLENCODED, MULTIPART

__all__ = ["DEFAULT_MAX_FIELDS", "DEFAULT_MAX_FILES", "FormItems", "parse_form"]

#: most non-file fields one form may have (more → 400)
DEFAULT_MAX_FIELDS = 1000
#: most files one form may have (more → 400)
DEFAULT_MAX_FILES = 1000

#: a parsed form: ``(name, value)`` pairs in order
FormItems = list[tuple[str, str | UploadFile]]


class _ClientErrorsOnly(logging.Filter):
    """python-multipart logs a warning for every malformed body it sees; those are
    the client's mistakes, answered with 400 here — not server problems to log
    (a hostile client could otherwise flood the log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING


logging.getLogger("python_multipart.multipart").addFilter(_ClientErrorsOnly())


def parse_form(
    body: bytes | Iterable[bytes],
    content_type: str,
    *,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_files: int = DEFAULT_MAX_FILES,
) -> FormItems:
    """Parse a complete form body into ``(name, value)`` pairs, in order.

    ``body`` is the bytes or an iterable of pieces (a spooled body read piece by
    piece: a large upload is never all in memory). Values are ``str`` for plain
    fields and :class:`UploadFile` for file parts. Raises
    :class:`~barq.exceptions.HTTPException` 400 for a malformed body or too many
    parts and 415 for a content type that is not a form.
    """
    media, options = parse_options_header(content_type)
    media_type = media.decode("latin-1").lower()
    if isinstance(body, bytes | bytearray):
        body = (body,)
    if media_type == FORM_URLENCODED:
        return _parse_urlencoded(body, max_fields)
    if media_type == MULTIPART:
        boundary = options.get(b"boundary")
        if not boundary:
            raise HTTPException(400, "Malformed multipart body: the Content-Type has no boundary")
        return _parse_multipart(body, boundary, max_fields, max_files)
    raise HTTPException(
        415,
        f"Unsupported media type {media_type!r}: this endpoint expects a form body "
        "(Content-Type: multipart/form-data or application/x-www-form-urlencoded)",
    )


def _parse_urlencoded(body: Iterable[bytes], max_fields: int) -> FormItems:
    items: FormItems = []
    name = bytearray()
    value = bytearray()

    def on_field_start() -> None:
        name.clear()
        value.clear()

    def on_field_name(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])

    def on_field_data(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_field_end() -> None:
        if len(items) >= max_fields:
            raise HTTPException(400, f"Too many form fields: the limit is {max_fields}")
        items.append((_unquote_plus(name), _unquote_plus(value)))

    parser = QuerystringParser(
        {
            "on_field_start": on_field_start,
            "on_field_name": on_field_name,
            "on_field_data": on_field_data,
            "on_field_end": on_field_end,
        }
    )
    try:
        for piece in body:
            parser.write(piece)
        parser.finalize()
    except FormParserError as exc:
        raise HTTPException(400, f"Malformed form body: {exc}") from None
    return items


def _unquote_plus(data: bytearray) -> str:
    raw = unquote_to_bytes(bytes(data).replace(b"+", b" "))
    return raw.decode("utf-8", errors="replace")


class _MultipartCollector:
    """python-multipart callbacks that build the ``(name, value)`` list."""

    def __init__(self, max_fields: int, max_files: int) -> None:
        self.items: FormItems = []
        self.max_fields = max_fields
        self.max_files = max_files
        self.fields = 0
        self.files = 0
        self.headers: list[tuple[str, str]] = []
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.name = ""
        self.upload: UploadFile | None = None
        self.data = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self.headers = []
        self.upload = None
        self.data.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field.extend(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value.extend(data[start:end])

    def on_header_end(self) -> None:
        name = bytes(self.header_field).decode("latin-1").strip().lower()
        value = bytes(self.header_value).decode("latin-1").strip()
        self.headers.append((name, value))
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        disposition = next((v for k, v in self.headers if k == "content-disposition"), None)
        if disposition is None:
            raise HTTPException(
                400, "Malformed multipart body: a part has no Content-Disposition header"
            )
        kind, options = parse_options_header(disposition)
        if kind.lower() != b"form-data" or b"name" not in options:
            raise HTTPException(
                400,
                "Malformed multipart body: a part's Content-Disposition must be "
                "'form-data' with a name",
            )
        self.name = _decode_option(options[b"name"])
        filename = options.get(b"filename")
        if filename is not None:
            self.files += 1
            if self.files > self.max_files:
                raise HTTPException(400, f"Too many files: the limit is {self.max_files}")
            headers = Headers(self.headers, lowercase=True)
            self.upload = UploadFile(filename=_decode_option(filename), size=0, headers=headers)
        else:
            self.fields += 1
            if self.fields > self.max_fields:
                raise HTTPException(400, f"Too many form fields: the limit is {self.max_fields}")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.upload is not None:
            self.upload.write(data[start:end])
        else:
            self.data.extend(data[start:end])

    def on_part_end(self) -> None:
        upload = self.upload
        if upload is not None:
            upload.seek(0)
            self.items.append((self.name, upload))
            self.upload = None
        else:
            self.items.append((self.name, self.data.decode("utf-8", errors="replace")))

    def close_all(self) -> None:
        if self.upload is not None:
            self.upload.close()
        for _, value in self.items:
            if isinstance(value, UploadFile):
                value.close()


def _decode_option(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _parse_multipart(
    body: Iterable[bytes], boundary: bytes, max_fields: int, max_files: int
) -> FormItems:
    collector = _MultipartCollector(max_fields, max_files)
    try:
        try:
            parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
            for piece in body:
                parser.write(piece)
            parser.finalize()
        except FormParserError as exc:
            raise HTTPException(400, f"Malformed multipart body: {exc}") from None
        if parser.state != MultipartState.END:
            raise HTTPException(
                400, "Malformed multipart body: it ends before the closing boundary"
            )
    except BaseException:
        collector.close_all()
        raise
    return collector.items
