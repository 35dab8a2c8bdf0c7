"""``jsonable_encoder``: turn Pydantic models, dataclasses, dates, UUIDs, enums,
sets and the like into plain JSON-compatible Python data (dicts, lists, str, int,
float, bool, None), with the name and options FastAPI apps use, e.g. to store a
model in a JSON column or to update a stored item with a partial one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import pydantic
import pydantic_core

__all__ = ["jsonable_encoder"]

_PLAIN = (str, int, float, type(None))


def jsonable_encoder(
    obj: Any,
    include: Any = None,
    exclude: Any = None,
    by_alias: bool = True,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
    custom_encoder: Mapping[Any, Callable[[Any], Any]] | None = None,
    sqlalchemy_safe: bool = True,
) -> Any:
    """``obj`` as JSON-compatible data. ``include``/``exclude`` (sets or dicts of
    field names), ``by_alias``, ``exclude_unset``, ``exclude_defaults`` and
    ``exclude_none`` apply to Pydantic models as in ``model_dump``;
    ``exclude_none`` also drops None values of dicts. ``custom_encoder`` maps
    types to functions that encode them (checked first). ``sqlalchemy_safe``
    leaves out ``_sa_*`` keys (SQLAlchemy's instance state) of mappings."""
    options = {
        "by_alias": by_alias,
        "exclude_unset": exclude_unset,
        "exclude_defaults": exclude_defaults,
        "exclude_none": exclude_none,
        "custom_encoder": custom_encoder,
        "sqlalchemy_safe": sqlalchemy_safe,
    }
    if custom_encoder:
        for kind, encode in custom_encoder.items():
            if isinstance(obj, kind):
                return encode(obj)
    if isinstance(obj, _PLAIN) or obj is None:
        return obj
    if isinstance(obj, Enum):
        return jsonable_encoder(obj.value, **options)  # type: ignore[arg-type]
    if isinstance(obj, pydantic.BaseModel):
        data = obj.model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )
        return jsonable_encoder(data, **options)  # type: ignore[arg-type]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return jsonable_encoder(fields, include=include, exclude=exclude, **options)  # type: ignore[arg-type]
    if isinstance(obj, Mapping):
        keep = set(include) if include is not None else None
        drop = set(exclude) if exclude is not None else set()
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if sqlalchemy_safe and isinstance(key, str) and key.startswith("_sa"):
                continue
            if (keep is not None and key not in keep) or key in drop:
                continue
            if exclude_none and value is None:
                continue
            out[jsonable_encoder(key, **options)] = jsonable_encoder(value, **options)  # type: ignore[arg-type]
        return out
    if isinstance(obj, list | tuple | set | frozenset) or _is_generator(obj):
        return [jsonable_encoder(item, **options) for item in obj]  # type: ignore[arg-type]
    try:
        return pydantic_core.to_jsonable_python(obj)
    except pydantic_core.PydanticSerializationError:
        pass
    try:
        return jsonable_encoder(dict(obj), **options)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    try:
        return jsonable_encoder(vars(obj), **options)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"cannot encode {type(obj).__name__} object as JSON: {obj!r}") from None


def _is_generator(obj: Any) -> bool:
    import types

    return isinstance(obj, types.GeneratorType)
