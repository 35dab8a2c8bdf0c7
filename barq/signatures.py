"""Compiling a handler's (or dependency's) signature into a :class:`CallPlan`, once.

At registration time :func:`compile_plan` reads the signature and annotations and
sorts every parameter into one of three kinds:

- a *request parameter* (:class:`ParamField`: path, query, header, cookie or
  body, with a cached pydantic ``TypeAdapter`` validator),
- a *dependency* (:class:`DependencyNode`, with its own nested plan),
- a *special* parameter injected from the request context (``Request``,
  ``Response``, ``BackgroundTasks``: the table in :mod:`barq.context`).

Nothing on the request path calls ``inspect`` or builds adapters; the solver
(:mod:`barq.dependencies`) only walks these tuples.
"""

from __future__ import annotations

import copy
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import pydantic
from pydantic import TypeAdapter
from pydantic_core import PydanticUndefined

from barq.concurrency import is_async_callable
from barq.context import SPECIAL_PARAMS, SpecialFactory
from barq.exceptions import BarqError
from barq.params import Dependency, FileInfo, ParamInfo
from barq.typeinfo import (
    callable_name,
    is_scalar,
    is_scalar_sequence,
    is_upload_type,
    resolve_hints,
    signature_of,
    strip_annotated,
    strip_optional,
)

__all__ = ["CallPlan", "DependencyNode", "ParamField", "compile_plan", "with_overrides"]

#: Where request parameters come from, in the order a plan keeps them.
LOCATIONS = ("path", "query", "header", "cookie", "body")


def _needs_validation(tp: Any, constraints: Mapping[str, Any]) -> bool:
    if constraints:
        return True
    base = strip_optional(tp)
    return not (base is str or base is Any)


class ParamField:
    """One compiled request parameter: metadata (for errors and OpenAPI) and its validator."""

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
        "members",
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
        #: a Pydantic model grouping several query/header/cookie parameters:
        #: ``(key in the model's input, name in the request, is a list, an empty
        #: list when absent)`` each
        self.members: tuple[tuple[str, str, bool, bool], ...] | None = None
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
    """A dependency of a plan: the parameter it fills (or None) and its own plan.

    ``scopes`` are the OAuth2 scopes its ``Security(...)`` marker declares;
    ``cache_key`` keys its result in the request's cache: the callable, or the
    callable with the scopes required at that point (the same dependency asked
    for with other scopes runs again, as in FastAPI).
    """

    __slots__ = ("cache_key", "function_scope", "name", "plan", "scopes", "use_cache")

    def __init__(
        self,
        name: str | None,
        plan: CallPlan,
        use_cache: bool,
        scopes: tuple[str, ...] = (),
        function_scope: bool = False,
    ) -> None:
        self.name = name
        self.plan = plan
        self.use_cache = use_cache
        #: ``Depends(..., scope="function")``: finished right after the handler returns
        self.function_scope = function_scope
        self.scopes = scopes
        self.cache_key: Any = (plan.call, plan.scopes) if plan.scopes else plan.call


class CallPlan:
    """A callable with its parameters sorted by source, compiled once."""

    __slots__ = (
        "body",
        "call",
        "cookie",
        "dependencies",
        "header",
        "is_async",
        "is_async_generator",
        "is_generator",
        "name",
        "needs_async",
        "path",
        "query",
        "scopes",
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
        self.specials: tuple[tuple[str, SpecialFactory], ...] = ()
        self.is_generator = _is_kind(call, inspect.isgeneratorfunction)
        #: ``async def`` (its value is awaited)
        self.is_async = is_async_callable(call)
        #: ``async def`` with ``yield``: entered and finished like a generator
        self.is_async_generator = _is_kind(call, inspect.isasyncgenfunction)
        #: this callable or a dependency of it is async: solve it with ``solve_async``
        self.needs_async = self.is_async or self.is_async_generator
        #: the OAuth2 scopes required where this plan sits (its Security markers and
        #: those above it): what a ``SecurityScopes`` parameter receives
        self.scopes: tuple[str, ...] = ()
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


def compile_plan(
    call: Callable[..., Any],
    path_param_names: frozenset[str] | set[str] = frozenset(),
    extra_dependencies: Sequence[Dependency] = (),
    _stack: tuple[Any, ...] = (),
    *,
    localns: Mapping[str, Any] | None = None,
    scopes: tuple[str, ...] = (),
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
        chain = " -> ".join(callable_name(c) for c in (*_stack, call))
        raise BarqError(f"circular dependency: {chain}")
    name = callable_name(call)
    plan = CallPlan(call, name)
    plan.scopes = scopes
    try:
        signature = signature_of(call)
    except (TypeError, ValueError) as exc:
        raise BarqError(f"cannot read the signature of {name}: {exc}") from exc
    hints = resolve_hints(call, localns)
    stack = (*_stack, call)
    groups: dict[str, list[ParamField]] = {location: [] for location in LOCATIONS}
    deps = [
        _dependency_node(None, extra, None, path_param_names, stack, localns, scopes)
        for extra in extra_dependencies
    ]
    specials: list[tuple[str, SpecialFactory]] = []

    for pname, param in signature.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise BarqError(f"{name}: positional-only parameter {pname!r} cannot be injected")
        annotation = hints.get(pname, param.annotation)
        if annotation is inspect.Parameter.empty:
            annotation = Any
        base, metadata = strip_annotated(annotation)
        marker, default = _marker_and_default(name, pname, metadata, param.default)
        if isinstance(marker, Dependency):
            deps.append(
                _dependency_node(pname, marker, base, path_param_names, stack, localns, scopes)
            )
            continue
        special = _special_factory(base, scopes) if marker is None else None
        if special is not None:
            specials.append((pname, special))
            continue
        field = _request_field(name, pname, base, metadata, marker, default, path_param_names)
        groups[field.location].append(field)

    plan.path = tuple(groups["path"])
    plan.query = tuple(groups["query"])
    plan.header = tuple(groups["header"])
    plan.cookie = tuple(groups["cookie"])
    plan.body = tuple(groups["body"])
    plan.dependencies = tuple(deps)
    plan.specials = tuple(specials)
    plan.trivial = not (any(groups.values()) or deps or specials)
    plan.needs_async = plan.needs_async or any(node.plan.needs_async for node in deps)
    return plan


def with_overrides(
    plan: CallPlan,
    overrides: Mapping[Any, Callable[..., Any]],
    path_param_names: frozenset[str] | set[str] = frozenset(),
) -> CallPlan:
    """``plan`` with each dependency found in ``overrides`` replaced by its
    override (``app.dependency_overrides``), at any depth and inside the
    overrides too; ``plan`` itself when nothing in it is overridden."""
    nodes: list[DependencyNode] = []
    changed = False
    for node in plan.dependencies:
        replacement = overrides.get(node.plan.call)
        sub = node.plan
        if replacement is not None:
            sub = compile_plan(replacement, path_param_names, scopes=node.plan.scopes)
        sub = with_overrides(sub, overrides, path_param_names)
        if sub is node.plan:
            nodes.append(node)
            continue
        changed = True
        nodes.append(
            DependencyNode(node.name, sub, node.use_cache, node.scopes, node.function_scope)
        )
    if not changed:
        return plan
    new = copy.copy(plan)
    new.dependencies = tuple(nodes)
    new.needs_async = (
        plan.is_async or plan.is_async_generator or any(n.plan.needs_async for n in nodes)
    )
    return new


def _is_kind(call: Any, test: Callable[[Any], bool]) -> bool:
    """``test`` holds for ``call``, the function behind a ``functools.partial``, or
    a callable object's ``__call__``."""
    while hasattr(call, "func") and hasattr(call, "args"):
        call = call.func
    if isinstance(call, type):  # calling a class makes an instance
        return False
    return test(call) or test(getattr(call, "__call__", None))  # noqa: B004


def _marker_and_default(
    name: str, pname: str, metadata: list[Any], default: Any
) -> tuple[ParamInfo | Dependency | None, Any]:
    """The parameter's marker (from ``Annotated`` or its default) and its real default."""
    marker: ParamInfo | Dependency | None = None
    for item in metadata:
        if isinstance(item, ParamInfo | Dependency):
            marker = item
    if isinstance(default, ParamInfo | Dependency):
        if marker is not None:
            raise BarqError(
                f"{name}: parameter {pname!r} has a marker both in Annotated and as default"
            )
        marker = default
        default = inspect.Parameter.empty
    if default is inspect.Parameter.empty:
        default = PydanticUndefined
    return marker, default


def _request_field(
    name: str,
    pname: str,
    base: Any,
    metadata: list[Any],
    info: ParamInfo | None,
    default: Any,
    path_param_names: frozenset[str] | set[str],
) -> ParamField:
    """The :class:`ParamField` for a parameter that is read from the request."""
    if info is None and is_upload_type(base):
        info = FileInfo()  # ``file: UploadFile`` means ``File()``
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
    if location in ("query", "header", "cookie") and _is_model(base):
        field = ParamField(pname, location, alias, clean, default, info)
        field.members = _model_members(base, location, info)
        field.validate = field.adapter.validate_python
        return field
    is_sequence = location != "body" and is_scalar_sequence(base)
    if location in ("path", "cookie") and is_sequence:
        raise BarqError(f"{name}: {location} parameter {pname!r} cannot be a list")
    if location != "body" and not (is_scalar(base) or is_sequence):
        raise BarqError(
            f"{name}: {location} parameter {pname!r} must be a scalar type "
            f"(str, int, float, bool, UUID, Enum, ...) or a list of them, not {base!r}"
        )
    return ParamField(pname, location, alias, clean, default, info, is_sequence=is_sequence)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _model_members(
    model: type[pydantic.BaseModel], location: str, info: ParamInfo | None
) -> tuple[tuple[str, str, bool, bool], ...]:
    """How to gather a parameter model's fields from the request: each field by
    its alias (or name); a header's name with underscores as hyphens unless
    ``convert_underscores=False``."""
    convert = location == "header" and getattr(info, "convert_underscores", True)
    members = []
    for fname, finfo in model.model_fields.items():
        key = finfo.alias or fname
        wire = key.replace("_", "-") if convert else key
        if location == "header":
            wire = wire.lower()
        # a list with a default is an empty list when absent (FastAPI's way)
        is_list = is_scalar_sequence(finfo.annotation)
        members.append((key, wire, is_list, is_list and not finfo.is_required()))
    return tuple(members)


def _special_factory(tp: Any, scopes: tuple[str, ...] = ()) -> SpecialFactory | None:
    if not isinstance(tp, type):
        return None
    security = sys.modules.get("barq.security")  # only an app that imported it can use it
    if security is not None and issubclass(tp, security.SecurityScopes):
        required = list(dict.fromkeys(scopes))  # in order, without repeats
        scopes_type = tp
        return lambda ctx: scopes_type(required)
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
    scopes: tuple[str, ...] = (),
) -> DependencyNode:
    call = marker.dependency
    if call is None:
        call = annotation
    if call is None or not callable(call):
        raise BarqError(
            f"Depends() for {pname!r} needs a callable (or a class annotation), got {call!r}"
        )
    scopes = (*scopes, *marker.scopes)
    plan = compile_plan(call, path_param_names, (), stack, localns=localns, scopes=scopes)
    return DependencyNode(pname, plan, marker.use_cache, marker.scopes, marker.scope == "function")
