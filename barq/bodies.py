"""Body plans: how a route reads its request body, compiled once per route.

A route whose handler (or dependencies) declare body parameters gets one
:class:`BodyPlan`, chosen by :func:`make_body_plan`:

- :class:`JSONBody` for ``Body()`` parameters and pydantic models — one model
  read from the whole body, or several fields embedded by name;
- :class:`FormBody` for ``Form()`` / ``File()`` / ``UploadFile`` parameters
  (urlencoded or multipart, parsed by :mod:`barq.formparsers`).

Either reads the body into ``ctx.body_values`` (validated, by alias) and adds
FastAPI-shaped errors to ``ctx.errors``; a body of the wrong media type raises
:class:`~barq.exceptions.HTTPException` 415, a form over the app's
``max_upload_size`` 413.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable
from typing import Any, Protocol, get_args

import pydantic

from barq import jsonlib
from barq.context import RequestContext
from barq.datastructures import UploadFile
from barq.exceptions import BarqError, HTTPException, missing_error, validation_errors
from barq.formparsers import DEFAULT_MAX_FIELDS, DEFAULT_MAX_FILES, FormItems, parse_form
from barq.params import FORM_URLENCODED, MULTIPART, BodyInfo, FileInfo, FormInfo
from barq.signatures import ParamField
from barq.typeinfo import is_sequence, strip_annotated, strip_optional

__all__ = ["BodyPlan", "FormBody", "JSONBody", "make_body_plan"]

_MISSING: Any = object()


class BodyPlan(Protocol):
    """What routing and OpenAPI generation need from a body plan."""

    #: the body parameters (deduplicated by alias)
    fields: tuple[ParamField, ...]
    #: the field that *is* the whole body (not embedded by name), if any
    single: ParamField | None
    #: the media type the body is documented with
    media_type: str

    @property
    def required(self) -> bool:
        """Whether a body must be sent."""
        ...

    def read(self, ctx: RequestContext) -> None:
        """Parse and validate the body into ``ctx.body_values`` (errors into ``ctx.errors``)."""
        ...


def make_body_plan(fields: list[ParamField]) -> BodyPlan | None:
    """The body plan for a route's body fields: form or JSON (None without body fields)."""
    if not fields:
        return None
    form = [f for f in fields if isinstance(f.info, FormInfo)]
    if not form:
        return JSONBody(fields)
    if len(form) != len(fields):
        names = ", ".join(f.name for f in fields if not isinstance(f.info, FormInfo))
        raise BarqError(
            f"cannot mix JSON body parameters ({names}) with Form()/File() parameters: "
            "declare them all as form fields"
        )
    return FormBody(fields)


def _unique(fields: Iterable[ParamField]) -> tuple[ParamField, ...]:
    unique: dict[str, ParamField] = {}
    for f in fields:
        unique.setdefault(f.alias, f)
    return tuple(unique.values())


# -- JSON ---------------------------------------------------------------------------


class JSONBody:
    """A JSON body: one model (``single``), or several fields embedded by name."""

    __slots__ = ("embed", "fields", "media_type", "single")

    def __init__(self, fields: list[ParamField]) -> None:
        self.fields = _unique(fields)
        self.embed = len(self.fields) > 1 or any(f.embed for f in self.fields)
        self.single = self.fields[0] if len(self.fields) == 1 and not self.embed else None
        declared = getattr(self.single.info, "media_type", None) if self.single else None
        self.media_type: str = declared or "application/json"

    @property
    def required(self) -> bool:
        """Whether a body must be sent."""
        return any(f.required for f in self.fields)

    def read(self, ctx: RequestContext) -> None:
        """Parse and validate the JSON body (415 for another content type)."""
        raw = ctx.raw
        body = raw.body
        errors = ctx.errors
        if not body:
            for f in self.fields:
                if f.required:
                    loc = ("body",) if self.single is not None else ("body", f.alias)
                    errors.append(missing_error(*loc))
            return
        content_type = raw.header("content-type")
        app = ctx.request.app
        if content_type is None:
            is_json = not getattr(app, "strict_content_type", True)
        else:
            media = content_type.split(";", 1)[0].strip().lower()
            is_json = media == "application/json" or (
                media.startswith("application/") and media.endswith("+json")
            )
            if not is_json and getattr(app, "reject_unsupported_media_type", False):
                raise HTTPException(
                    415,
                    f"Unsupported media type {media!r}: this endpoint expects a JSON body "
                    "(Content-Type: application/json)",
                )
        if not is_json:
            self._not_json(body, ctx)
            return
        try:
            data = jsonlib.loads(body)
        except jsonlib.JSONDecodeError as exc:
            errors.append(_json_error(body, exc))
            return
        ctx.request._json = data
        single = self.single
        if single is not None:
            try:
                ctx.body_values[single.alias] = single.adapter.validate_python(data)
            except pydantic.ValidationError as exc:
                errors.extend(validation_errors(exc, ("body",)))
            return
        if not isinstance(data, dict):
            # as FastAPI: the fields are looked up in it and are all missing
            data = {}
        for f in self.fields:
            value = data.get(f.alias, _MISSING)
            if value is _MISSING:
                if f.required:
                    errors.append(missing_error("body", f.alias))
                continue
            try:
                ctx.body_values[f.alias] = f.adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                errors.extend(validation_errors(exc, ("body", f.alias)))

    def _not_json(self, body: bytes, ctx: RequestContext) -> None:
        """A body that is not declared JSON, as FastAPI treats it: the text itself
        is the input (a model or dict answers 422 "valid dictionary")."""
        text = body.decode("utf-8", "replace")
        single = self.single
        if single is not None:
            try:
                ctx.body_values[single.alias] = single.adapter.validate_python(text)
                return
            except pydantic.ValidationError as exc:
                errors = validation_errors(exc, ("body",))
                if not any(e["type"] in ("model_type", "dict_type") for e in errors):
                    ctx.errors.extend(errors)
                    return
        ctx.errors.append(
            {
                "type": "model_attributes_type",
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "input": text,
            }
        )


def _is_form(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media in (FORM_URLENCODED, MULTIPART)


def _json_error(body: bytes, exc: Exception) -> dict[str, Any]:
    pos: int = 0
    msg = str(exc)
    try:
        json.loads(body)  # for FastAPI's error position and message
    except json.JSONDecodeError as std:
        pos, msg = std.pos, std.msg
    except (UnicodeDecodeError, ValueError) as other:
        msg = str(other)
    except RecursionError:  # nested deeper than any parser here follows
        msg = "nesting too deep"
    return {
        "type": "json_invalid",
        "loc": ["body", pos],
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": msg},
    }


# -- forms ----------------------------------------------------------------------------


def _model_type(field: ParamField) -> type[pydantic.BaseModel] | None:
    tp = strip_optional(strip_annotated(field.annotation)[0])
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return tp
    return None


class FormBody:
    """A form body: parse once, then validate each field.

    A pydantic model annotated with ``Form()`` is filled from the whole form
    (when it is the only field, it is the ``single`` field).
    """

    __slots__ = ("fields", "media_type", "models", "single")

    def __init__(self, fields: Iterable[ParamField]) -> None:
        self.fields = _unique(fields)
        multipart = any(
            isinstance(f.info, FileInfo)
            or (isinstance(f.info, BodyInfo) and f.info.media_type == MULTIPART)
            for f in self.fields
        )
        self.media_type: str = MULTIPART if multipart else FORM_URLENCODED
        #: fields filled from the whole form (a pydantic model annotated with Form())
        self.models = {f.alias: m for f in self.fields if (m := _model_type(f)) is not None}
        only = self.fields[0] if len(self.fields) == 1 else None
        self.single: ParamField | None = (
            only if only is not None and only.alias in self.models else None
        )

    @property
    def required(self) -> bool:
        """Whether a body must be sent."""
        return any(f.required for f in self.fields)

    def read(self, ctx: RequestContext) -> None:
        """Parse the form into ``ctx.body_values`` (validation errors into ``ctx.errors``)."""
        raw = ctx.raw
        size = raw.body_size
        app = ctx.request.app
        limit = getattr(app, "max_upload_size", None)
        if limit is not None and size > limit:
            raise HTTPException(
                413, f"Request body too large: {size} bytes, the limit is {limit} bytes"
            )
        content_type = raw.header("content-type")
        items: FormItems = []
        if (size or content_type) and not _is_form(content_type):
            # FastAPI reads a body that is not a form as an empty form (the
            # fields are then missing: 422); Barq's stricter answer is a 415
            if getattr(app, "reject_unsupported_media_type", False):
                raise HTTPException(
                    415,
                    f"Unsupported media type {content_type or 'none'!r}: this endpoint "
                    "expects a form body (multipart/form-data or "
                    "application/x-www-form-urlencoded)",
                )
        elif size or content_type:
            assert content_type is not None
            items = parse_form(
                raw.iter_body(),
                content_type,
                max_fields=_app_limit(app, "max_form_fields", DEFAULT_MAX_FIELDS),
                max_files=_app_limit(app, "max_form_files", DEFAULT_MAX_FILES),
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
                    errors.append(missing_error("body", f.alias))
                continue
            base = strip_optional(strip_annotated(f.annotation)[0])
            wants_bytes = _wants_bytes(base)
            value: Any
            if is_sequence(base):
                value = [_as_bytes(v) if wants_bytes else v for v in received]
            else:
                value = received[-1]
                if wants_bytes:
                    value = _as_bytes(value)
            try:
                values[f.alias] = f.adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                errors.extend(validation_errors(exc, ("body", f.alias)))


def _app_limit(app: Any, name: str, default: int) -> int:
    value = getattr(app, name, None)
    return default if value is None else int(value)


def _wants_bytes(tp: Any) -> bool:
    if is_sequence(tp):
        args = get_args(tp)
        return bool(args) and strip_optional(args[0]) is bytes
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
    known: set[str] = set()
    for name, info in model.model_fields.items():
        key = info.alias or name
        known.add(key)
        received = [v for v in form.get(key, ()) if not (isinstance(v, str) and v == "")]
        if not received:
            continue
        data[key] = received if is_sequence(info.annotation) else received[-1]
    if model.model_config.get("extra") == "forbid":
        # the other fields too, so that the model refuses them (FastAPI's answer)
        for key, values in form.items():
            if key not in known and values:
                data[key] = values[-1] if len(values) == 1 else values
    return data


def _closer(uploads: list[UploadFile]) -> Generator[None, None, None]:
    """A teardown step (like a generator dependency) closing the request's uploads."""
    try:
        yield
    finally:
        for upload in uploads:
            upload.close()
