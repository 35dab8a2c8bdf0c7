"""HTML form and file-upload parameters: ``Form``, ``File`` and ``UploadFile``.

Handlers declare form fields with the :func:`Form` marker and uploads with an
:class:`UploadFile` annotation (or ``bytes`` with the :func:`File` marker)::

    from typing import Annotated
    from barq import Barq, File, Form, UploadFile

    @app.post("/profile")
    def profile(
        name: Annotated[str, Form(min_length=1)],
        avatar: UploadFile,
        thumbnails: list[UploadFile] = [],
        note: Annotated[bytes, File()] = b"",
    ) -> dict: ...

Bodies are parsed with `python-multipart` (``application/x-www-form-urlencoded``
and ``multipart/form-data``). Uploads go to a :class:`tempfile.SpooledTemporaryFile`
that moves to disk past :data:`SPOOL_MAX_SIZE` bytes, and are closed after the
handler (and its dependencies' teardown) finished.

Errors: a body over the app's ``max_upload_size`` → 413; a malformed multipart
body or too many parts → 400 with a text ``detail``; a body that is not a form →
415; missing or invalid fields → 422 with FastAPI-shaped ``detail`` entries
(``loc: ["body", name]``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, BinaryIO, get_args, get_origin

import pydantic
from pydantic_core import PydanticUndefined, core_schema

from barq.datastructures import Headers
from barq.exceptions import BarqError, HTTPException
from barq.params import (
    BodyInfo,
    ParamField,
    _strip_annotated,
    _strip_optional,
    register_implicit_marker,
)

if TYPE_CHECKING:
    from barq.dependencies import RequestContext

try:  # python-multipart >= 0.0.13 is importable as ``python_multipart``
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import (
        MultipartParser,
        MultipartState,
        QuerystringParser,
        parse_options_header,
    )
except ImportError:  # pragma: no cover - older releases use the ``multipart`` name
    from multipart.exceptions import FormParserError  # type: ignore[no-redef]
    from multipart.multipart import (  # type: ignore[no-redef]
        MultipartParser,
        MultipartState,
        QuerystringParser,
        parse_options_header,
    )

__all__ = [
    "DEFAULT_MAX_FIELDS",
    "DEFAULT_MAX_FILES",
    "SPOOL_MAX_SIZE",
    "File",
    "FileInfo",
    "Form",
    "FormBodyPlan",
    "FormInfo",
    "UploadFile",
    "is_form_field",
    "parse_form",
]

#: uploads larger than this many bytes are moved from memory to a temporary file
SPOOL_MAX_SIZE = 1024 * 1024
#: most non-file fields one form may have (more → 400)
DEFAULT_MAX_FIELDS = 1000
#: most files one form may have (more → 400)
DEFAULT_MAX_FILES = 1000

FORM_URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
_MISSING: Any = object()


class UploadFile:
    """An uploaded file from a ``multipart/form-data`` body.

    - ``filename``: the name the client sent (may be ``None``), never a path to trust.
    - ``content_type``: the part's ``Content-Type`` (``application/octet-stream``
      when the client sent none); ``headers``: all the part's headers.
    - ``file``: the underlying binary file object (a ``SpooledTemporaryFile``).
    - ``size``: the number of bytes received.
    - :meth:`read`, :meth:`write`, :meth:`seek`, :meth:`close`.

    Barq closes it once the request is finished; read what you need in the
    handler (or copy it elsewhere) rather than in a background task.
    """

    __slots__ = ("content_type", "file", "filename", "headers", "size")

    #: bytes kept in memory before the upload moves to a temporary file
    spool_max_size = SPOOL_MAX_SIZE

    def __init__(
        self,
        file: BinaryIO | None = None,
        *,
        filename: str | None = None,
        size: int | None = None,
        headers: Headers | None = None,
        content_type: str | None = None,
    ) -> None:
        if file is None:
            spooled: Any = tempfile.SpooledTemporaryFile(max_size=self.spool_max_size)  # noqa: SIM115
            file = spooled
        self.file: BinaryIO = file
        self.filename = filename
        self.size = size
        self.headers = headers if headers is not None else Headers()
        if content_type is None:
            content_type = self.headers.get("content-type") or "application/octet-stream"
        self.content_type = content_type

    @property
    def in_memory(self) -> bool:
        """False once a spooled upload has been moved to a file on disk."""
        rolled = getattr(self.file, "_rolled", None)
        return not rolled if rolled is not None else False

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all remaining by default) from the current position."""
        return self.file.read(size)

    def write(self, data: bytes) -> int:
        """Append ``data`` (used while parsing; updates :attr:`size`)."""
        written = self.file.write(data)
        self.size = (self.size or 0) + len(data)
        return written

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the read position (``seek(0)`` to read again from the start)."""
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        """The current read position."""
        return self.file.tell()

    def close(self) -> None:
        """Close (and delete) the underlying temporary file."""
        self.file.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return bool(self.file.closed)

    def __enter__(self) -> UploadFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, size={self.size!r}, "
            f"content_type={self.content_type!r})"
        )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(cls)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: pydantic.GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"type": "string", "format": "binary"}


# ---------------------------------------------------------------------------
# markers


class FormInfo(BodyInfo):
    """Marker for a form field (see :func:`Form`)."""

    def __init__(
        self, default: Any = PydanticUndefined, *, media_type: str = FORM_URLENCODED, **kw: Any
    ) -> None:
        super().__init__(default, embed=True, media_type=media_type, **kw)


class FileInfo(FormInfo):
    """Marker for an uploaded file (see :func:`File`)."""

    def __init__(
        self, default: Any = PydanticUndefined, *, media_type: str = MULTIPART, **kw: Any
    ) -> None:
        super().__init__(default, media_type=media_type, **kw)


def Form(default: Any = PydanticUndefined, *, media_type: str = FORM_URLENCODED, **kw: Any) -> Any:
    """Declare a form field (``application/x-www-form-urlencoded`` or multipart).

    Takes the same options as :func:`~barq.Query` (alias, constraints such as
    ``min_length``/``ge``, description, examples). ``list[str]`` collects a
    repeated field; a pydantic model annotated with ``Form()`` is filled from the
    whole form.
    """
    return FormInfo(default, media_type=media_type, **kw)


def File(default: Any = PydanticUndefined, *, media_type: str = MULTIPART, **kw: Any) -> Any:
    """Declare an uploaded file: ``bytes`` (its content) or :class:`UploadFile`
    (``list[...]`` of either for several files with the same field name)."""
    return FileInfo(default, media_type=media_type, **kw)


def _is_upload_type(tp: Any) -> bool:
    tp = _strip_optional(tp)
    if get_origin(tp) in (list, tuple, set, frozenset):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return bool(args) and all(_is_upload_type(a) for a in args)
    return isinstance(tp, type) and issubclass(tp, UploadFile)


def _upload_marker(tp: Any) -> FileInfo | None:
    return FileInfo() if _is_upload_type(tp) else None


register_implicit_marker(_upload_marker)


def is_form_field(field: ParamField) -> bool:
    """True for parameters read from a form body."""
    return isinstance(field.info, FormInfo)


def _is_sequence(tp: Any) -> bool:
    tp = _strip_optional(tp)
    origin = get_origin(tp)
    return origin in (list, tuple, set, frozenset) or tp in (list, tuple, set, frozenset)


def _model_type(field: ParamField) -> type[pydantic.BaseModel] | None:
    tp = _strip_optional(_strip_annotated(field.annotation)[0])
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return tp
    return None


# ---------------------------------------------------------------------------
# parsing


def _app_limit(ctx: RequestContext, name: str, default: Any) -> Any:
    app = ctx.request.app
    value = getattr(app, name, None) if app is not None else None
    return default if value is None else value


def parse_form(
    body: bytes,
    content_type: str,
    *,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_files: int = DEFAULT_MAX_FILES,
) -> list[tuple[str, str | UploadFile]]:
    """Parse a complete form body into ``(name, value)`` pairs, in order.

    Values are ``str`` for plain fields and :class:`UploadFile` for file parts.
    Raises :class:`~barq.exceptions.HTTPException` 400 for a malformed body or
    too many parts and 415 for a content type that is not a form.
    """
    media, options = parse_options_header(content_type)
    media_type = media.decode("latin-1").lower()
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


def _parse_urlencoded(body: bytes, max_fields: int) -> list[tuple[str, str | UploadFile]]:
    items: list[tuple[str, str | UploadFile]] = []
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
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise HTTPException(400, f"Malformed form body: {exc}") from None
    return items


def _unquote_plus(data: bytearray) -> str:
    from urllib.parse import unquote_to_bytes

    raw = unquote_to_bytes(bytes(data).replace(b"+", b" "))
    return raw.decode("utf-8", errors="replace")


class _MultipartCollector:
    """python-multipart callbacks that build the ``(name, value)`` list."""

    def __init__(self, max_fields: int, max_files: int) -> None:
        self.items: list[tuple[str, str | UploadFile]] = []
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
    body: bytes, boundary: bytes, max_fields: int, max_files: int
) -> list[tuple[str, str | UploadFile]]:
    collector = _MultipartCollector(max_fields, max_files)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        try:
            parser.write(body)
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


# ---------------------------------------------------------------------------
# the body plan used by routes with form parameters


class FormBodyPlan:
    """How a route reads a form body: parse once, then validate each field.

    Has the interface of :class:`barq.dependencies.BodyPlan` (``fields``,
    ``embed``, ``single``, ``required``, :meth:`read`) plus :attr:`media_type`.
    """

    __slots__ = ("embed", "fields", "media_type", "models", "single")

    def __init__(self, fields: Iterable[ParamField]) -> None:
        unique: dict[str, ParamField] = {}
        for f in fields:
            unique.setdefault(f.alias, f)
        self.fields = tuple(unique.values())
        self.embed = True
        self.single = None
        multipart = any(
            isinstance(f.info, FileInfo)
            or (isinstance(f.info, BodyInfo) and f.info.media_type == MULTIPART)
            for f in self.fields
        )
        self.media_type = MULTIPART if multipart else FORM_URLENCODED
        #: fields filled from the whole form (a pydantic model annotated with Form())
        self.models = {f.alias: m for f in self.fields if (m := _model_type(f)) is not None}

    @property
    def required(self) -> bool:
        """Whether a body must be sent."""
        return any(f.required for f in self.fields)

    def read(self, ctx: RequestContext) -> None:
        """Parse the form into ``ctx.body_values`` (validation errors into ``ctx.errors``)."""
        from barq.dependencies import validation_errors

        raw = ctx.raw
        body = raw.body
        limit = _app_limit(ctx, "max_upload_size", None)
        if limit is not None and len(body) > limit:
            raise HTTPException(
                413, f"Request body too large: {len(body)} bytes, the limit is {limit} bytes"
            )
        content_type = raw.header("content-type")
        items: list[tuple[str, str | UploadFile]] = []
        if body or content_type:
            if not content_type:
                raise HTTPException(
                    415,
                    "Missing Content-Type: this endpoint expects a form body "
                    "(multipart/form-data or application/x-www-form-urlencoded)",
                )
            items = parse_form(
                body,
                content_type,
                max_fields=_app_limit(ctx, "max_form_fields", DEFAULT_MAX_FIELDS),
                max_files=_app_limit(ctx, "max_form_files", DEFAULT_MAX_FILES),
            )
        uploads = [v for _, v in items if isinstance(v, UploadFile)]
        if uploads:
            closer = _closer(uploads)
            next(closer)
            ctx.generators.append(closer)
        form: dict[str, list[str | UploadFile]] = {}
        for name, item in items:
            form.setdefault(name, []).append(item)
        errors = ctx.errors
        values = ctx.body_values
        for f in self.fields:
            model = self.models.get(f.alias)
            if model is not None:
                data = _model_input(model, form)
                try:
                    values[f.alias] = f.adapter.validate_python(data)
                except pydantic.ValidationError as exc:
                    errors.extend(validation_errors(exc, ("body",)))
                continue
            received = [v for v in form.get(f.alias, ()) if not (isinstance(v, str) and v == "")]
            if not received:
                if f.required:
                    errors.append(
                        {
                            "type": "missing",
                            "loc": ["body", f.alias],
                            "msg": "Field required",
                            "input": None,
                        }
                    )
                continue
            base = _strip_optional(_strip_annotated(f.annotation)[0])
            wants_bytes = _wants_bytes(base)
            value: Any
            if _is_sequence(base):
                value = [_as_bytes(v) if wants_bytes else v for v in received]
            else:
                value = received[-1]
                if wants_bytes:
                    value = _as_bytes(value)
            try:
                values[f.alias] = f.adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                errors.extend(validation_errors(exc, ("body", f.alias)))


def _wants_bytes(tp: Any) -> bool:
    if _is_sequence(tp):
        args = get_args(tp)
        return bool(args) and _strip_optional(args[0]) is bytes
    return tp is bytes


def _as_bytes(value: str | UploadFile) -> bytes:
    if isinstance(value, UploadFile):
        value.seek(0)
        return value.read()
    return value.encode("utf-8")


def _model_input(
    model: type[pydantic.BaseModel], form: dict[str, list[str | UploadFile]]
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        received = [v for v in form.get(key, ()) if not (isinstance(v, str) and v == "")]
        if not received:
            continue
        data[key] = received if _is_sequence(info.annotation) else received[-1]
    return data


def _closer(uploads: list[UploadFile]) -> Generator[None, None, None]:
    """A teardown step (like a generator dependency) closing the request's uploads."""
    try:
        yield
    finally:
        for upload in uploads:
            upload.close()


def make_body_plan(fields: list[ParamField]) -> Any:
    """The body plan for a route's body fields: form or JSON (None without body fields)."""
    if not fields:
        return None
    form = [f for f in fields if is_form_field(f)]
    if not form:
        from barq.dependencies import BodyPlan

        return BodyPlan(fields)
    if len(form) != len(fields):
        names = ", ".join(f.name for f in fields if not is_form_field(f))
        raise BarqError(
            f"cannot mix JSON body parameters ({names}) with Form()/File() parameters: "
            "declare them all as form fields"
        )
    return FormBodyPlan(fields)
