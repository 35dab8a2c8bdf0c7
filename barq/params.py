"""Parameter markers: where a handler's or dependency's parameter comes from.

``Query``, ``Path``, ``Header``, ``Cookie``, ``Body``, ``Form``, ``File`` and
``Depends`` go in a parameter's default or in ``typing.Annotated[...]``; each
returns a marker object (:class:`ParamInfo` subclasses, :class:`Dependency`)
that :mod:`barq.signatures` reads once, when the route is registered. The
metadata kept on a marker (alias, constraints, description, examples, ...) is
also what OpenAPI generation reads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from pydantic_core import PydanticUndefined

__all__ = [
    "FORM_URLENCODED",
    "MULTIPART",
    "Body",
    "BodyInfo",
    "Cookie",
    "CookieInfo",
    "Dependency",
    "Depends",
    "File",
    "FileInfo",
    "Form",
    "FormInfo",
    "Header",
    "HeaderInfo",
    "ParamInfo",
    "Path",
    "PathInfo",
    "Query",
    "QueryInfo",
    "Security",
]

FORM_URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class ParamInfo:
    """Base marker: where a parameter comes from, plus validation and docs metadata."""

    location = ""

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        alias: str | None = None,
        title: str | None = None,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        multiple_of: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        strict: bool | None = None,
        allow_inf_nan: bool | None = None,
        max_digits: int | None = None,
        decimal_places: int | None = None,
        examples: list[Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | None = None,
        openapi_examples: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.default = PydanticUndefined if default is ... else default
        #: named OpenAPI Example Objects (``{"normal": {"summary": ..., "value": ...}}``):
        #: Swagger UI offers them in a drop-down (beside the parameter or the body)
        self.openapi_examples = dict(openapi_examples) if openapi_examples else None
        self.alias = alias
        self.title = title
        self.description = description
        self.examples = examples
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.json_schema_extra = json_schema_extra
        given = {
            "gt": gt,
            "ge": ge,
            "lt": lt,
            "le": le,
            "multiple_of": multiple_of,
            "min_length": min_length,
            "max_length": max_length,
            "pattern": pattern,
            "strict": strict,
            "allow_inf_nan": allow_inf_nan,
            "max_digits": max_digits,
            "decimal_places": decimal_places,
        }
        #: the constraints that were given (name -> value)
        self.constraints: dict[str, Any] = {k: v for k, v in given.items() if v is not None}

    def with_default(self, default: Any) -> ParamInfo:
        """A copy with ``default`` set (used for ``Annotated[T, Query()] = value``)."""
        clone = copy.copy(self)
        clone.default = default
        return clone

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.default!r})"


class QueryInfo(ParamInfo):
    """Marker for a query-string parameter (see :func:`Query`)."""

    location = "query"


class PathInfo(ParamInfo):
    """Marker for a path parameter (see :func:`Path`)."""

    location = "path"


class HeaderInfo(ParamInfo):
    """Marker for a request header (see :func:`Header`)."""

    location = "header"

    def __init__(
        self, default: Any = PydanticUndefined, *, convert_underscores: bool = True, **kw: Any
    ) -> None:
        super().__init__(default, **kw)
        self.convert_underscores = convert_underscores


class CookieInfo(ParamInfo):
    """Marker for a cookie (see :func:`Cookie`)."""

    location = "cookie"


class BodyInfo(ParamInfo):
    """Marker for (part of) the JSON request body (see :func:`Body`)."""

    location = "body"

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        embed: bool = False,
        media_type: str = "application/json",
        **kw: Any,
    ) -> None:
        super().__init__(default, **kw)
        self.embed = embed
        self.media_type = media_type


def Query(default: Any = PydanticUndefined, **kw: Any) -> Any:
    """Declare a query parameter: alias, constraints (gt/ge/lt/le/min_length/max_length/
    pattern, ...), description, examples, deprecated. ``default=...`` means required."""
    return QueryInfo(default, **kw)


def Path(default: Any = PydanticUndefined, **kw: Any) -> Any:
    """Declare a path parameter with constraints/description (always required)."""
    return PathInfo(default, **kw)


def Header(default: Any = PydanticUndefined, *, convert_underscores: bool = True, **kw: Any) -> Any:
    """Declare a header parameter. ``user_agent`` reads ``User-Agent`` unless
    ``convert_underscores=False`` or an ``alias`` is given."""
    return HeaderInfo(default, convert_underscores=convert_underscores, **kw)


def Cookie(default: Any = PydanticUndefined, **kw: Any) -> Any:
    """Declare a cookie parameter (alias, constraints, description)."""
    return CookieInfo(default, **kw)


def Body(
    default: Any = PydanticUndefined,
    *,
    embed: bool = False,
    media_type: str = "application/json",
    **kw: Any,
) -> Any:
    """Declare a JSON body parameter. Several body parameters (or ``embed=True``)
    are read from a JSON object keyed by their names/aliases."""
    return BodyInfo(default, embed=embed, media_type=media_type, **kw)


class Dependency:
    """A dependency marker created by :func:`Depends` (or :func:`Security`)."""

    __slots__ = ("dependency", "scope", "scopes", "use_cache")

    def __init__(
        self,
        dependency: Callable[..., Any] | None = None,
        *,
        use_cache: bool = True,
        scopes: Sequence[str] | None = None,
        scope: str | None = None,
    ):
        if scope not in (None, "function", "request"):
            raise ValueError(f"Depends(scope=...) is 'function' or 'request', not {scope!r}")
        self.dependency = dependency
        self.use_cache = use_cache
        #: when a generator dependency finishes: "function" right after the handler
        #: returned, "request" (or None) once the response is built, or for a
        #: streamed body once it has been sent
        self.scope = scope
        #: OAuth2 scopes this use of the dependency requires (:func:`Security`)
        self.scopes: tuple[str, ...] = tuple(scopes or ())

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", repr(self.dependency))
        cache = "" if self.use_cache else ", use_cache=False"
        if self.scopes:
            return f"Security({name}, scopes={list(self.scopes)!r}{cache})"
        return f"Depends({name}{cache})"


def Depends(
    dependency: Callable[..., Any] | None = None,
    *,
    use_cache: bool = True,
    scope: str | None = None,
) -> Any:
    """Inject the result of ``dependency`` (a function, generator function or class).

    Its parameters are resolved like a handler's (query, headers, body, other
    dependencies...). Within one request each dependency runs once and its result
    is shared, unless ``use_cache=False``. A generator dependency's code after
    ``yield`` runs after the response is produced, also when the handler raised
    (the exception is thrown into the generator). Without an argument the
    annotation is used: ``Annotated[Service, Depends()]``. ``scope="function"``
    finishes a generator dependency as soon as the handler returns (before the
    response is built or streamed).
    """
    return Dependency(dependency, use_cache=use_cache, scope=scope)


def Security(
    dependency: Callable[..., Any] | None = None,
    *,
    scopes: Sequence[str] | None = None,
    use_cache: bool = True,
) -> Any:
    """:func:`Depends` that also requires OAuth2 ``scopes``: a
    :class:`~barq.security.SecurityScopes` parameter of the dependency (or of
    its own dependencies) receives them, and the OpenAPI document lists them
    in the operation's ``security``."""
    return Dependency(dependency, use_cache=use_cache, scopes=scopes)


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
