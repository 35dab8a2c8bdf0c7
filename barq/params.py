"""Parameter markers and the compiled per-callable *plan*.

Markers (``Query``, ``Header``, ``Cookie``, ``Path``, ``Body``, ``Depends``) go in a
parameter's default or in ``typing.Annotated[...]``. At registration time
:func:`compile_plan` reads a handler's (or dependency's) signature once and turns
it into a :class:`CallPlan`: tuples of :class:`ParamField` (each with a cached
pydantic ``TypeAdapter`` validator) and nested dependency plans. Nothing on the
request path calls ``inspect`` or builds adapters.

The metadata kept on :class:`ParamField` (name, location, alias, annotation,
default, required, constraints, description, ...) is what OpenAPI generation reads.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import inspect
import pathlib
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic
from pydantic import TypeAdapter
from pydantic_core import PydanticUndefined

from barq.exceptions import BarqError

__all__ = [
    "Body",
    "BodyInfo",
    "CallPlan",
    "Cookie",
    "CookieInfo",
    "Dependency",
    "DependencyNode",
    "Depends",
    "Header",
    "HeaderInfo",
    "ParamField",
    "ParamInfo",
    "Path",
    "PathInfo",
    "Query",
    "QueryInfo",
    "compile_plan",
    "register_implicit_marker",
    "register_special_param",
]


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
    ) -> None:
        self.default = PydanticUndefined if default is ... else default
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
    """A dependency marker created by :func:`Depends`."""

    __slots__ = ("dependency", "use_cache")

    def __init__(self, dependency: Callable[..., Any] | None = None, *, use_cache: bool = True):
        self.dependency = dependency
        self.use_cache = use_cache

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", repr(self.dependency))
        cache = "" if self.use_cache else ", use_cache=False"
        return f"Depends({name}{cache})"


def Depends(dependency: Callable[..., Any] | None = None, *, use_cache: bool = True) -> Any:
    """Inject the result of ``dependency`` (a function, generator function or class).

    Its parameters are resolved like a handler's (query, headers, body, other
    dependencies...). Within one request each dependency runs once and its result
    is shared, unless ``use_cache=False``. A generator dependency's code after
    ``yield`` runs after the response is produced, also when the handler raised
    (the exception is thrown into the generator). Without an argument the
    annotation is used: ``Annotated[Service, Depends()]``.
    """
    return Dependency(dependency, use_cache=use_cache)


# ---------------------------------------------------------------------------
# type analysis

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
)
_SEQUENCE_ORIGINS = (list, set, tuple, frozenset, Sequence, typing.List, typing.Set)  # noqa: UP006
_NONE_TYPE = type(None)
_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType)


def _strip_annotated(tp: Any) -> tuple[Any, list[Any]]:
    metadata: list[Any] = []
    while get_origin(tp) is Annotated:
        args = get_args(tp)
        tp = args[0]
        metadata.extend(args[1:])
    return tp, metadata


def _strip_optional(tp: Any) -> Any:
    tp, _ = _strip_annotated(tp)
    if get_origin(tp) in _UNION_TYPES:
        args = [a for a in get_args(tp) if a is not _NONE_TYPE]
        if len(args) == 1:
            return _strip_annotated(args[0])[0]
    return tp


def is_scalar(tp: Any) -> bool:
    """True for types read from a single string (query/path/header/cookie values)."""
    tp = _strip_optional(tp)
    if tp is Any:
        return True
    if get_origin(tp) is typing.Literal:
        return True
    if get_origin(tp) in _UNION_TYPES:
        return all(is_scalar(a) for a in get_args(tp) if a is not _NONE_TYPE)
    return isinstance(tp, type) and issubclass(tp, _SCALAR_TYPES)


def is_scalar_sequence(tp: Any) -> bool:
    """True for ``list[int]``-like types read from repeated query keys/headers."""
    tp = _strip_optional(tp)
    origin = get_origin(tp)
    if origin in _SEQUENCE_ORIGINS or tp in (list, set, tuple, frozenset):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return all(is_scalar(a) for a in args)
    return False


def _needs_validation(tp: Any, constraints: Mapping[str, Any]) -> bool:
    if constraints:
        return True
    base = _strip_optional(tp)
    return not (base is str or base is Any)


# ---------------------------------------------------------------------------
# plan objects


class ParamField:
    """One compiled parameter: metadata (for errors and OpenAPI) and its validator."""

    __slots__ = (
        "adapter",
        "alias",
        "annotation",
        "default",
        "description",
        "embed",
        "info",
        "is_sequence",
        "location",
        "name",
        "required",
        "validate",
    )

    def __init__(
        self,
        name: str,
        location: str,
        alias: str,
        annotation: Any,
        default: Any,
        info: ParamInfo | None,
        *,
        is_sequence: bool = False,
    ) -> None:
        self.name = name
        self.location = location
        self.alias = alias
        self.annotation = annotation
        self.default = default
        self.required = default is PydanticUndefined
        self.info = info
        self.is_sequence = is_sequence
        self.description = info.description if info is not None else None
        self.embed = bool(getattr(info, "embed", False))
        constraints = info.constraints if info is not None else {}
        annotated: Any = annotation
        if constraints:
            annotated = Annotated[annotation, pydantic.Field(**constraints)]
        try:
            self.adapter: TypeAdapter[Any] = TypeAdapter(annotated)
        except pydantic.PydanticSchemaGenerationError as exc:
            raise BarqError(
                f"parameter {name!r}: pydantic cannot validate type {annotation!r}: {exc}"
            ) from exc
        if location == "body" or _needs_validation(annotation, constraints):
            self.validate: Callable[[Any], Any] | None = self.adapter.validate_python
        else:
            self.validate = None

    @property
    def constraints(self) -> dict[str, Any]:
        """Validation constraints given through the marker (gt, max_length, pattern...)."""
        return dict(self.info.constraints) if self.info is not None else {}

    def get_default(self) -> Any:
        """The default value (mutable defaults are copied per request)."""
        default = self.default
        if isinstance(default, list | dict | set):
            return copy.copy(default)
        return default

    def __repr__(self) -> str:
        return f"<ParamField {self.location}:{self.alias} {self.annotation!r}>"


class DependencyNode:
    """A dependency of a plan: the parameter it fills (or None) and its own plan."""

    __slots__ = ("name", "plan", "use_cache")

    def __init__(self, name: str | None, plan: CallPlan, use_cache: bool) -> None:
        self.name = name
        self.plan = plan
        self.use_cache = use_cache


#: special parameter types injected from the request context: type -> (ctx -> value)
SPECIAL_PARAMS: dict[type, Callable[[Any], Any]] = {}


def register_special_param(tp: type, factory: Callable[[Any], Any]) -> None:
    """Inject parameters annotated with ``tp`` (or a subclass) via ``factory(ctx)``.

    ``ctx`` is the per-request :class:`barq.dependencies.RequestContext`. Used for
    ``Request``, ``Response`` and by later extensions (e.g. background tasks).
    """
    SPECIAL_PARAMS[tp] = factory


#: ``finder(annotation) -> marker or None`` for parameters declared without a marker
IMPLICIT_MARKERS: list[Callable[[Any], ParamInfo | None]] = []


def register_implicit_marker(finder: Callable[[Any], ParamInfo | None]) -> None:
    """Let ``finder(annotation)`` supply the marker of parameters that have none.

    Used by :mod:`barq.forms` so that ``file: UploadFile`` means ``File()``.
    """
    IMPLICIT_MARKERS.append(finder)


class CallPlan:
    """A callable with its parameters sorted by source, compiled once."""

    __slots__ = (
        "body",
        "call",
        "cookie",
        "dependencies",
        "header",
        "is_generator",
        "name",
        "path",
        "query",
        "specials",
        "trivial",
    )

    def __init__(self, call: Callable[..., Any], name: str) -> None:
        self.call = call
        self.name = name
        self.path: tuple[ParamField, ...] = ()
        self.query: tuple[ParamField, ...] = ()
        self.header: tuple[ParamField, ...] = ()
        self.cookie: tuple[ParamField, ...] = ()
        self.body: tuple[ParamField, ...] = ()
        self.dependencies: tuple[DependencyNode, ...] = ()
        self.specials: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
        self.is_generator = inspect.isgeneratorfunction(call) or inspect.isgeneratorfunction(
            getattr(call, "__call__", None)  # noqa: B004
        )
        self.trivial = False

    @property
    def fields(self) -> tuple[ParamField, ...]:
        """This callable's own request parameters (not its dependencies')."""
        return self.path + self.query + self.header + self.cookie + self.body

    def all_fields(self) -> list[ParamField]:
        """Every request parameter of this plan and its dependency tree (deduplicated)."""
        seen: dict[tuple[str, str], ParamField] = {}
        stack: list[CallPlan] = [self]
        while stack:
            plan = stack.pop()
            for node in plan.dependencies:
                stack.append(node.plan)
            for f in plan.fields:
                seen.setdefault((f.location, f.alias), f)
        return list(seen.values())

    def walk(self) -> list[CallPlan]:
        """This plan and every nested dependency plan, depth first."""
        out = [self]
        for node in self.dependencies:
            out.extend(node.plan.walk())
        return out

    def __repr__(self) -> str:
        return f"<CallPlan {self.name}>"


def _callable_name(call: Any) -> str:
    return getattr(call, "__qualname__", None) or getattr(call, "__name__", None) or repr(call)


def _signature_target(call: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isclass(call):
        return call
    if inspect.isfunction(call) or inspect.ismethod(call):
        return call
    dunder = getattr(call, "__call__", None)  # noqa: B004
    return dunder if dunder is not None else call


def _type_hints(
    call: Callable[..., Any], localns: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    target: Any = call.__init__ if inspect.isclass(call) else _signature_target(call)
    try:
        return typing.get_type_hints(
            target, localns=dict(localns) if localns else None, include_extras=True
        )
    except NameError as exc:
        raise BarqError(
            f"cannot resolve the annotations of {_callable_name(call)}: {exc} "
            "(define the type before the function, or import it at module level)"
        ) from exc
    except TypeError:
        return {}


def compile_plan(
    call: Callable[..., Any],
    path_param_names: frozenset[str] | set[str] = frozenset(),
    extra_dependencies: Sequence[Dependency] = (),
    _stack: tuple[Any, ...] = (),
    *,
    localns: Mapping[str, Any] | None = None,
) -> CallPlan:
    """Analyse ``call``'s signature once and return its :class:`CallPlan`.

    ``path_param_names`` are the route template's parameters (unannotated
    parameters with those names come from the path). ``extra_dependencies`` are
    run before the callable's own (router/app ``dependencies=[...]``). ``localns``
    resolves string annotations naming local objects (``from __future__ import
    annotations`` inside a function).
    Raises :class:`~barq.exceptions.BarqError` for signatures it cannot serve.
    """
    if call in _stack:
        chain = " -> ".join(_callable_name(c) for c in (*_stack, call))
        raise BarqError(f"circular dependency: {chain}")
    name = _callable_name(call)
    plan = CallPlan(call, name)
    try:
        signature = inspect.signature(call)
    except (TypeError, ValueError) as exc:
        raise BarqError(f"cannot read the signature of {name}: {exc}") from exc
    hints = _type_hints(call, localns)
    groups: dict[str, list[ParamField]] = {
        "path": [],
        "query": [],
        "header": [],
        "cookie": [],
        "body": [],
    }
    deps: list[DependencyNode] = []
    for extra in extra_dependencies:
        deps.append(_dependency_node(None, extra, None, path_param_names, (*_stack, call), localns))
    specials: list[tuple[str, Callable[[Any], Any]]] = []

    for pname, param in signature.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise BarqError(f"{name}: positional-only parameter {pname!r} cannot be injected")
        annotation = hints.get(pname, param.annotation)
        if annotation is inspect.Parameter.empty:
            annotation = Any
        base, metadata = _strip_annotated(annotation)
        marker: Any = None
        for item in metadata:
            if isinstance(item, ParamInfo | Dependency):
                marker = item
        default = param.default
        if isinstance(default, ParamInfo | Dependency):
            if marker is not None:
                raise BarqError(
                    f"{name}: parameter {pname!r} has a marker both in Annotated and as default"
                )
            marker = default
            default = inspect.Parameter.empty
        if default is inspect.Parameter.empty:
            default = PydanticUndefined
        if isinstance(marker, Dependency):
            deps.append(
                _dependency_node(pname, marker, base, path_param_names, (*_stack, call), localns)
            )
            continue
        special = _special_factory(base) if marker is None else None
        if special is not None:
            specials.append((pname, special))
            continue
        info: ParamInfo | None = marker
        if info is None:
            for finder in IMPLICIT_MARKERS:
                info = finder(base)
                if info is not None:
                    break
        if info is not None and default is PydanticUndefined:
            default = info.default
        # the annotation without Barq markers, but keeping other metadata (pydantic Field...)
        clean = base
        others = [m for m in metadata if not isinstance(m, ParamInfo | Dependency)]
        if others:
            clean = Annotated[(base, *others)]
        if info is not None:
            location = info.location
        elif pname in path_param_names:
            location = "path"
        elif is_scalar(base) or is_scalar_sequence(base):
            location = "query"
        else:
            location = "body"
        if location == "path":
            if pname not in path_param_names and (info is None or info.alias is None):
                raise BarqError(
                    f"{name}: path parameter {pname!r} is not in the route path "
                    f"(known: {sorted(path_param_names) or 'none'})"
                )
            default = PydanticUndefined  # path parameters are always required
        alias = info.alias if info is not None and info.alias else pname
        if (
            location == "header"
            and not (info is not None and info.alias)
            and getattr(info, "convert_underscores", True)
        ):
            alias = pname.replace("_", "-")
        if location == "header":
            alias = alias.lower()
        is_sequence = location != "body" and is_scalar_sequence(base)
        if location in ("path", "cookie") and is_sequence:
            raise BarqError(f"{name}: {location} parameter {pname!r} cannot be a list")
        if location != "body" and not (is_scalar(base) or is_sequence):
            raise BarqError(
                f"{name}: {location} parameter {pname!r} must be a scalar type "
                f"(str, int, float, bool, UUID, Enum, ...) or a list of them, not {base!r}"
            )
        groups[location].append(
            ParamField(pname, location, alias, clean, default, info, is_sequence=is_sequence)
        )

    plan.path = tuple(groups["path"])
    plan.query = tuple(groups["query"])
    plan.header = tuple(groups["header"])
    plan.cookie = tuple(groups["cookie"])
    plan.body = tuple(groups["body"])
    plan.dependencies = tuple(deps)
    plan.specials = tuple(specials)
    plan.trivial = not (
        plan.path or plan.query or plan.header or plan.cookie or plan.body or deps or specials
    )
    return plan


def _special_factory(tp: Any) -> Callable[[Any], Any] | None:
    if not isinstance(tp, type):
        return None
    for klass in tp.__mro__:
        factory = SPECIAL_PARAMS.get(klass)
        if factory is not None:
            return factory
    return None


def _dependency_node(
    pname: str | None,
    marker: Dependency,
    annotation: Any,
    path_param_names: frozenset[str] | set[str],
    stack: tuple[Any, ...],
    localns: Mapping[str, Any] | None = None,
) -> DependencyNode:
    call = marker.dependency
    if call is None:
        call = annotation
    if call is None or not callable(call):
        raise BarqError(
            f"Depends() for {pname!r} needs a callable (or a class annotation), got {call!r}"
        )
    plan = compile_plan(call, path_param_names, (), stack, localns=localns)
    return DependencyNode(pname, plan, marker.use_cache)
