"""Type analysis for handler signatures: what an annotation means for a parameter.

Pure functions over annotations, used at registration time only:
``Annotated``/``Optional`` unwrapping, whether a type is read from one string
(query, path, header and cookie values) or a repeated key, whether it is an
upload, and resolving a callable's annotations.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import ipaddress
import pathlib
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic
import pydantic_core

try:  # Python 3.14+: deferred annotations (PEP 649)
    import annotationlib as _ANNOTATIONLIB  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - before 3.14
    _ANNOTATIONLIB = None

from barq.datastructures import UploadFile
from barq.exceptions import BarqError

__all__ = [
    "UnresolvedAnnotation",
    "callable_name",
    "is_scalar",
    "is_scalar_sequence",
    "is_sequence",
    "is_upload_type",
    "resolve_hints",
    "return_hint",
    "signature_of",
    "strip_annotated",
    "strip_optional",
]

_SCALAR_TYPES: tuple[type, ...] = (
    str,
    int,
    float,
    bool,
    bytes,
    decimal.Decimal,
    uuid.UUID,
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    enum.Enum,
    pathlib.PurePath,
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    pydantic.AnyUrl,  # HttpUrl and the other URL types (pydantic >= 2.10 classes)
    pydantic_core.Url,
)
_SEQUENCE_ORIGINS = (list, set, tuple, frozenset, Sequence, typing.List, typing.Set)  # noqa: UP006
_SEQUENCE_TYPES = (list, tuple, set, frozenset)
_NONE_TYPE = type(None)
_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType)


def strip_annotated(tp: Any) -> tuple[Any, list[Any]]:
    """``Annotated[T, a, b]`` -> ``(T, [a, b])`` (nested ``Annotated`` flattened)."""
    metadata: list[Any] = []
    while get_origin(tp) is Annotated:
        args = get_args(tp)
        tp = args[0]
        metadata.extend(args[1:])
    return tp, metadata


def strip_optional(tp: Any) -> Any:
    """``T | None`` (and ``Annotated[...]`` around it) -> ``T``; other types unchanged."""
    tp, _ = strip_annotated(tp)
    if get_origin(tp) in _UNION_TYPES:
        args = [a for a in get_args(tp) if a is not _NONE_TYPE]
        if len(args) == 1:
            return strip_annotated(args[0])[0]
    return tp


def is_scalar(tp: Any) -> bool:
    """True for types read from a single string (query/path/header/cookie values)."""
    tp = strip_optional(tp)
    if tp is Any:
        return True
    if get_origin(tp) is typing.Literal:
        return True
    if get_origin(tp) in _UNION_TYPES:
        return all(is_scalar(a) for a in get_args(tp) if a is not _NONE_TYPE)
    return isinstance(tp, type) and issubclass(tp, _SCALAR_TYPES)


def is_scalar_sequence(tp: Any) -> bool:
    """True for ``list[int]``-like types read from repeated query keys/headers."""
    tp = strip_optional(tp)
    origin = get_origin(tp)
    if origin in _SEQUENCE_ORIGINS or tp in _SEQUENCE_TYPES:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return all(is_scalar(a) for a in args)
    return False


def is_sequence(tp: Any) -> bool:
    """True for ``list[...]``, ``tuple[...]``, ``set[...]`` and the bare classes."""
    tp = strip_optional(tp)
    return get_origin(tp) in _SEQUENCE_TYPES or tp in _SEQUENCE_TYPES


def is_upload_type(tp: Any) -> bool:
    """True for :class:`~barq.datastructures.UploadFile` and lists of it."""
    tp = strip_optional(tp)
    if get_origin(tp) in _SEQUENCE_TYPES:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return bool(args) and all(is_upload_type(a) for a in args)
    return isinstance(tp, type) and issubclass(tp, UploadFile)


def callable_name(call: Any) -> str:
    """A readable name for a handler or dependency (its qualified name)."""
    return getattr(call, "__qualname__", None) or getattr(call, "__name__", None) or repr(call)


def _hints_target(call: Callable[..., Any]) -> Any:
    if inspect.isclass(call):
        return call.__init__
    if inspect.isfunction(call) or inspect.ismethod(call):
        return call
    dunder = getattr(call, "__call__", None)  # noqa: B004
    return dunder if dunder is not None else call


class UnresolvedAnnotation(BarqError):
    """An annotation names something that does not exist (yet).

    At registration this is not final: a handler may name a class defined later
    in its module (``from __future__ import annotations``, or Python 3.14's
    deferred annotations, PEP 649). The route is compiled again when the app
    starts, and only then is this the error the user sees.
    """


def _unresolved(call: Any, exc: Exception) -> UnresolvedAnnotation:
    return UnresolvedAnnotation(
        f"cannot resolve the annotations of {callable_name(call)}: {exc} "
        "(import it, or define it in the module: names defined later in the module "
        "are looked up again when the app starts)"
    )


def signature_of(call: Callable[..., Any]) -> inspect.Signature:
    """``inspect.signature(call)`` without evaluating annotations (3.14 evaluates
    them by default, which fails for a name defined later; the annotations
    themselves come from :func:`resolve_hints`)."""
    if _ANNOTATIONLIB is not None:
        return inspect.signature(call, annotation_format=_ANNOTATIONLIB.Format.FORWARDREF)  # type: ignore[call-arg,unused-ignore]
    return inspect.signature(call)


def resolve_hints(
    call: Callable[..., Any], localns: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The resolved annotations of ``call``'s parameters (``Annotated`` kept).

    ``localns`` resolves string annotations naming local objects. An
    unresolvable name raises :class:`UnresolvedAnnotation` saying which.
    """
    try:
        return typing.get_type_hints(
            _hints_target(call), localns=dict(localns) if localns else None, include_extras=True
        )
    except NameError as exc:
        raise _unresolved(call, exc) from exc
    except TypeError:
        return {}


def return_hint(call: Callable[..., Any], localns: Mapping[str, Any] | None = None) -> Any:
    """The resolved return annotation of ``call`` (None when absent).

    A name that cannot be resolved raises :class:`UnresolvedAnnotation` (it may
    be defined later in the module); other failures give None.
    """
    try:
        hints = typing.get_type_hints(
            call, localns=dict(localns) if localns else None, include_extras=True
        )
    except NameError as exc:
        raise _unresolved(call, exc) from exc
    except Exception:
        return None
    return hints.get("return")
