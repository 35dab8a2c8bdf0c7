"""Routes, routers and the radix-tree path matcher.

:class:`RadixTree` matches a request path segment by segment. Runs of static
segments are compressed into one edge (a radix tree over path segments), each
node has at most one parameter child (one whole segment) and one catch-all
(``{rest:path}``, the rest of the path). Static edges are tried before the
parameter child, which is tried before the catch-all, with backtracking, so
``/users/me`` wins over ``/users/{id}`` while ``/users/me/posts`` can still
reach ``/users/{id}/posts``.

A :class:`Route` is one endpoint with its compiled plan (see :mod:`barq.params`);
a :class:`Router` (alias :data:`APIRouter`) groups routes under a prefix with
shared tags and dependencies and can be included into an app or another router.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, get_args, get_origin
from urllib.parse import quote, unquote

import pydantic
from pydantic import TypeAdapter

from barq import jsonlib
from barq.dependencies import (
    BodyPlan,
    RequestContext,
    UnsupportedMediaType,
    merge_sub_response,
    solve,
    teardown,
)
from barq.exceptions import (
    BarqError,
    HTTPException,
    RequestValidationError,
    ResponseValidationError,
)
from barq.forms import make_body_plan
from barq.params import CallPlan, Dependency, compile_plan
from barq.requests import Request
from barq.responses import JSONResponse, Response

__all__ = [
    "DEFAULT",
    "HTTP_METHODS",
    "APIRouter",
    "Match",
    "RadixTree",
    "Route",
    "Router",
    "compile_path",
]

F = TypeVar("F", bound=Callable[..., Any])

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")
_PARAM_RE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+))?\}$")


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: "use the return annotation" (the default of ``response_model=``)
DEFAULT: Any = _Default()


def compile_path(path: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Split a route template into ``(kind, value)`` segments and its parameter names.

    Kinds: ``"static"`` (value: the literal segment), ``"param"`` (one segment) and
    ``"path"`` (catch-all, last only). Raises :class:`BarqError` for bad templates.
    """
    if not path.startswith("/"):
        raise BarqError(f"route path {path!r} must start with '/'")
    segments: list[tuple[str, str]] = []
    names: list[str] = []
    parts = path[1:].split("/")
    for i, part in enumerate(parts):
        if "{" in part or "}" in part:
            m = _PARAM_RE.match(part)
            if m is None:
                raise BarqError(
                    f"route path {path!r}: a parameter must be a whole segment like "
                    f"'{{name}}' or '{{name:path}}', got {part!r}"
                )
            name, conv = m.group(1), m.group(2)
            if name in names:
                raise BarqError(f"route path {path!r}: parameter {name!r} appears twice")
            names.append(name)
            if conv in (None, "str"):
                segments.append(("param", name))
            elif conv == "path":
                if i != len(parts) - 1:
                    raise BarqError(f"route path {path!r}: '{{{name}:path}}' must come last")
                segments.append(("path", name))
            else:
                raise BarqError(
                    f"route path {path!r}: unknown converter {conv!r} (only ':path'; "
                    "declare the type in the handler's annotation instead)"
                )
        else:
            segments.append(("static", unquote(part)))
    return segments, names


class _Endpoint:
    """What a tree position holds: method -> (route, parameter names)."""

    __slots__ = ("methods",)

    def __init__(self) -> None:
        self.methods: dict[str, tuple[Route, tuple[str, ...]]] = {}

    def allowed(self) -> list[str]:
        methods = set(self.methods)
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)


class _Node:
    __slots__ = ("catchall", "endpoint", "param", "static")

    def __init__(self) -> None:
        # first segment -> (edge label: tuple of static segments, child)
        self.static: dict[str, tuple[tuple[str, ...], _Node]] = {}
        self.param: _Node | None = None
        self.catchall: _Endpoint | None = None
        self.endpoint: _Endpoint | None = None


class Match:
    """A lookup result: the route, its raw (decoded, unconverted) parameters.

    ``route`` is None when the path exists but not for this method; then
    ``allowed`` lists the methods that do exist (for 405 + ``Allow``).
    """

    __slots__ = ("allowed", "params", "route")

    def __init__(
        self, route: Route | None, params: dict[str, str], allowed: list[str] | None = None
    ) -> None:
        self.route = route
        self.params = params
        self.allowed = allowed


class RadixTree:
    """Path matcher: a radix tree over path segments (see the module docstring)."""

    def __init__(self) -> None:
        self.root = _Node()
        # fully static templates by path: an O(1) first try (static always wins)
        self.static: dict[str, _Endpoint] = {}

    def insert(self, path: str, methods: Sequence[str], route: Route) -> None:
        """Add ``route`` for ``methods`` at template ``path``; duplicates raise BarqError."""
        segments, names = compile_path(path)
        node = self.root
        i = 0
        n = len(segments)
        endpoint: _Endpoint | None = None
        while i < n:
            kind = segments[i][0]
            if kind == "static":
                j = i
                while j < n and segments[j][0] == "static":
                    j += 1
                # Keys of these shared dicts are interned: in free-threaded 3.13 a
                # lookup from another thread with an equal but non-identical,
                # non-interned key takes a slow path (~10 us).
                run = tuple(sys.intern(v) for _, v in segments[i:j])
                edge = node.static.get(run[0])
                if edge is None:
                    child = _Node()
                    node.static[run[0]] = (run, child)
                    node, i = child, j
                    continue
                label, child = edge
                k = 0
                while k < len(label) and k < len(run) and label[k] == run[k]:
                    k += 1
                if k < len(label):
                    # split the edge: label[:k] -> middle -> label[k:] -> child
                    middle = _Node()
                    middle.static[label[k]] = (label[k:], child)
                    node.static[run[0]] = (label[:k], middle)
                    child = middle
                node, i = child, i + k
            elif kind == "param":
                if node.param is None:
                    node.param = _Node()
                node, i = node.param, i + 1
            else:  # catch-all
                if node.catchall is None:
                    node.catchall = _Endpoint()
                endpoint = node.catchall
                i += 1
        if endpoint is None:
            if node.endpoint is None:
                node.endpoint = _Endpoint()
            endpoint = node.endpoint
        for method in methods:
            existing = endpoint.methods.get(method)
            if existing is not None:
                raise BarqError(
                    f"route {method} {path} conflicts with {method} {existing[0].path} "
                    f"(endpoint {existing[0].name})"
                )
        for method in methods:
            endpoint.methods[sys.intern(method)] = (route, tuple(sys.intern(n) for n in names))
        if not names:
            self.static[sys.intern(path)] = endpoint

    @staticmethod
    def split(raw_path: str) -> list[str]:
        """Percent-decoded segments of a raw path (``"/a%2Fb/c"`` -> ``["a/b", "c"]``)."""
        segments = raw_path[1:].split("/")
        if "%" in raw_path:
            segments = [unquote(s) if "%" in s else s for s in segments]
        return segments

    def match(self, method: str, raw_path: str) -> Match | None:
        """Find the route for ``method`` and the percent-encoded ``raw_path``.

        Returns None when no route has this path, a :class:`Match` with ``route``
        None (and ``allowed``) when only other methods do.
        """
        endpoint = self.static.get(raw_path)
        if endpoint is not None:
            hit = self._pick(endpoint, method)
            if hit is not None:
                return Match(hit[0], {})
        if not raw_path.startswith("/"):
            return None
        segments = self.split(raw_path)
        values: list[str] = []
        fallback: list[Any] = []
        found = self._match(self.root, segments, 0, method, values, fallback)
        if found is not None:
            route, names, params = found
            return Match(route, dict(zip(names, params, strict=False)))
        if fallback:
            return Match(None, {}, fallback[0].allowed())
        return None

    def _match(
        self,
        node: _Node,
        segs: list[str],
        i: int,
        method: str,
        values: list[str],
        fallback: list[Any],
    ) -> tuple[Route, tuple[str, ...], list[str]] | None:
        n = len(segs)
        if i == n:
            endpoint = node.endpoint
            if endpoint is not None:
                hit = self._pick(endpoint, method)
                if hit is not None:
                    return hit[0], hit[1], values
                fallback.append(endpoint)
            # a catch-all also matches an empty rest
            if node.catchall is not None:
                return self._catchall(node.catchall, segs, i, method, values, fallback)
            return None
        seg = segs[i]
        edge = node.static.get(seg)
        if edge is not None:
            label, child = edge
            size = len(label)
            if size == 1 or tuple(segs[i : i + size]) == label:
                found = self._match(child, segs, i + size, method, values, fallback)
                if found is not None:
                    return found
        if node.param is not None and seg:
            values.append(seg)
            found = self._match(node.param, segs, i + 1, method, values, fallback)
            if found is not None:
                return found
            values.pop()
        if node.catchall is not None:
            return self._catchall(node.catchall, segs, i, method, values, fallback)
        return None

    def _catchall(
        self,
        endpoint: _Endpoint,
        segs: list[str],
        i: int,
        method: str,
        values: list[str],
        fallback: list[Any],
    ) -> tuple[Route, tuple[str, ...], list[str]] | None:
        hit = self._pick(endpoint, method)
        if hit is None:
            fallback.append(endpoint)
            return None
        return hit[0], hit[1], [*values, "/".join(segs[i:])]

    @staticmethod
    def _pick(endpoint: _Endpoint, method: str) -> tuple[Route, tuple[str, ...]] | None:
        hit = endpoint.methods.get(method)
        if hit is None and method == "HEAD":
            hit = endpoint.methods.get("GET")
        return hit


# ---------------------------------------------------------------------------
# routes


def _return_annotation(
    endpoint: Callable[..., Any], localns: Mapping[str, Any] | None = None
) -> Any:
    try:
        hints = typing.get_type_hints(
            endpoint, localns=dict(localns) if localns else None, include_extras=True
        )
    except Exception:
        return None
    return hints.get("return")


def _is_response_type(tp: Any) -> bool:
    if isinstance(tp, type) and issubclass(tp, Response):
        return True
    if get_origin(tp) in (typing.Union, __import__("types").UnionType):
        return any(_is_response_type(a) for a in get_args(tp))
    return False


def _model_adapter(model: Any, where: str) -> TypeAdapter[Any] | None:
    if model is None or model is type(None) or model is Any or model in (dict, list):
        return None
    if _is_response_type(model):
        return None
    try:
        return TypeAdapter(model)
    except (pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise BarqError(
            f"{where}: the response model {model!r} is not a type pydantic can validate "
            f"({exc}); pass response_model=None to skip response validation"
        ) from exc


class Route:
    """One endpoint: path template, methods, handler, compiled plan and metadata.

    The metadata (``path``, ``methods``, ``name``, ``tags``, ``summary``,
    ``description``, ``response_model``, ``status_code``, ``include_in_schema``,
    ``deprecated``, ``operation_id``, ``responses``) and :attr:`plan` /
    :attr:`body` describe the operation for OpenAPI generation.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] = ("GET",),
        response_model: Any = DEFAULT,
        status_code: int | None = None,
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: dict[int | str, Any] | None = None,
        deprecated: bool | None = None,
        operation_id: str | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        response_class: type[Response] = JSONResponse,
        response_model_exclude_unset: bool = False,
        response_model_exclude_none: bool = False,
        response_model_by_alias: bool = True,
        localns: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(endpoint):
            raise BarqError(f"route {path!r}: endpoint {endpoint!r} is not callable")
        if inspect.iscoroutinefunction(endpoint):
            raise BarqError(
                f"route {path!r}: {endpoint.__qualname__} is 'async def'; Barq runs plain "
                "'def' handlers on a thread pool — remove 'async'"
            )
        methods = [m.upper() for m in methods]
        for m in methods:
            if m not in HTTP_METHODS and not m.isalpha():
                raise BarqError(f"route {path!r}: invalid method {m!r}")
        if not methods:
            raise BarqError(f"route {path!r}: no methods given")
        # Interned: every request stores this string on its HTTPRequest (``route``)
        # and metrics compare it by identity; interned strings are immortal on
        # free-threaded builds, so worker threads never contend on its refcount.
        self.path = sys.intern(path)
        self.endpoint = endpoint
        self.methods: frozenset[str] = frozenset(methods)
        self.name = name or getattr(endpoint, "__name__", "endpoint")
        self.tags: list[str] = list(tags or [])
        self.dependencies: list[Dependency] = list(dependencies or [])
        for dep in self.dependencies:
            if not isinstance(dep, Dependency):
                raise BarqError(
                    f"route {path!r}: dependencies=[...] must hold Depends(...) markers, "
                    f"got {dep!r}"
                )
        self.summary = summary
        doc = inspect.getdoc(endpoint)
        self.description = description if description is not None else doc
        self.response_description = response_description
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.include_in_schema = include_in_schema
        self.response_class = response_class
        self.status_code = status_code if status_code is not None else 200
        self.status_code_explicit = status_code is not None
        self.response_model_exclude_unset = response_model_exclude_unset
        self.response_model_exclude_none = response_model_exclude_none
        self.response_model_by_alias = response_model_by_alias
        self._response_model_arg = response_model
        self._localns = localns

        names = compile_path(path)[1]
        self.param_names: tuple[str, ...] = tuple(names)
        where = f"route {'/'.join(sorted(self.methods))} {path} ({self.name})"
        try:
            self.plan: CallPlan = compile_plan(
                endpoint, frozenset(names), self.dependencies, localns=localns
            )
        except BarqError as exc:
            raise BarqError(f"{where}: {exc}") from exc
        body_fields = [f for f in self.plan.all_fields() if f.location == "body"]
        try:
            # a JSON BodyPlan, or a FormBodyPlan for Form()/File()/UploadFile parameters
            self.body: BodyPlan | None = make_body_plan(body_fields)
        except BarqError as exc:
            raise BarqError(f"{where}: {exc}") from exc

        if response_model is DEFAULT:
            response_model = _return_annotation(endpoint, localns)
        if response_model is not None and _is_response_type(response_model):
            response_model = None
        self.response_model = response_model
        self.response_adapter = _model_adapter(response_model, where)
        self._model_type = response_model if isinstance(response_model, type) else None
        self._json = issubclass(response_class, JSONResponse)
        self._no_body = self.status_code in (204, 304) or self.status_code < 200
        self._fast = self.plan.trivial and self.body is None

    def copy_with(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Any] = (),
        include_in_schema: bool = True,
    ) -> Route:
        """A new route under ``prefix`` with extra tags and (outer) dependencies first."""
        return Route(
            prefix + self.path,
            self.endpoint,
            methods=sorted(self.methods),
            response_model=self._response_model_arg,
            status_code=self.status_code if self.status_code_explicit else None,
            tags=[*tags, *(t for t in self.tags if t not in tags)],
            dependencies=[*dependencies, *self.dependencies],
            summary=self.summary,
            description=self.description,
            response_description=self.response_description,
            responses=self.responses,
            deprecated=self.deprecated,
            operation_id=self.operation_id,
            name=self.name,
            include_in_schema=self.include_in_schema and include_in_schema,
            response_class=self.response_class,
            response_model_exclude_unset=self.response_model_exclude_unset,
            response_model_exclude_none=self.response_model_exclude_none,
            response_model_by_alias=self.response_model_by_alias,
            localns=self._localns,
        )

    # -- request handling -------------------------------------------------

    def handle(self, request: Request, params: dict[str, str]) -> Response:
        """Run the handler for ``request`` and return the response (exceptions propagate)."""
        if self._fast:
            return self.render(self.endpoint(), None)
        ctx = RequestContext(request, params)
        try:
            if self.body is not None:
                try:
                    self.body.read(ctx)
                except UnsupportedMediaType as exc:
                    raise HTTPException(
                        415,
                        f"Unsupported media type {exc.media_type!r}: this endpoint expects "
                        "a JSON body (Content-Type: application/json)",
                    ) from None
            kwargs = solve(self.plan, ctx)
            if ctx.errors or kwargs is None:
                raise RequestValidationError(ctx.errors, body=request._json_or_none())
            result = self.endpoint(**kwargs)
            response = self.render(result, ctx)
        except BaseException as exc:
            if ctx.generators:
                final = teardown(ctx.generators, exc)
                if final is not None and final is not exc:
                    raise final
            raise
        if ctx.generators:
            error = teardown(ctx.generators, None)
            if error is not None:
                raise error
        return response

    def render(self, result: Any, ctx: RequestContext | None) -> Response:
        """Turn a handler's return value into a :class:`Response`."""
        sub = ctx.response if ctx is not None else None
        if isinstance(result, Response):
            return merge_sub_response(result, sub) if sub is not None else result
        status = self.status_code
        if sub is not None and sub.status_code:
            status = sub.status_code
        if self._json:
            body = b"" if self._no_body and result is None else self.serialize(result)
            response = self.response_class.__new__(self.response_class)
            response.status_code = status
            response.media_type = response.media_type_default
            response.body = body
            response._headers = None
            response.background = None
        else:
            response = self.response_class(result, status_code=status)
        return merge_sub_response(response, sub) if sub is not None else response

    def serialize(self, result: Any) -> bytes:
        """Validate ``result`` against the response model (if any) and encode it as JSON."""
        adapter = self.response_adapter
        if adapter is None:
            return jsonlib.dumps(result)
        if self._model_type is None or type(result) is not self._model_type:
            try:
                result = adapter.validate_python(result, from_attributes=True)
            except pydantic.ValidationError as exc:
                from barq.dependencies import validation_errors

                raise ResponseValidationError(
                    validation_errors(exc, ("response",)), endpoint=str(self.name)
                ) from None
        return adapter.dump_json(
            result,
            exclude_unset=self.response_model_exclude_unset,
            exclude_none=self.response_model_exclude_none,
            by_alias=self.response_model_by_alias,
        )

    def url_path(self, **params: Any) -> str:
        """This route's path with ``params`` filled in (percent-encoded)."""
        missing = [n for n in self.param_names if n not in params]
        if missing:
            raise BarqError(f"route {self.name!r} needs path parameters {missing}")
        path = self.path
        for key, value in params.items():
            text = value.value if hasattr(value, "value") else value
            path = path.replace(f"{{{key}:path}}", quote(str(text), safe="/"))
            path = path.replace(f"{{{key}}}", quote(str(text), safe=""))
        return path

    def __repr__(self) -> str:
        return f"<Route {','.join(sorted(self.methods))} {self.path} -> {self.name}>"


# ---------------------------------------------------------------------------
# routers


def _caller_locals(depth: int = 2) -> dict[str, Any] | None:
    """Local names of the scope defining a decorated handler (None at module level).

    They let string annotations (``from __future__ import annotations``) name
    classes and functions defined inside a function, e.g. in tests or factories.
    """
    frame = sys._getframe(depth)
    while frame is not None and frame.f_globals.get("__name__") in (__name__, "barq.app"):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_locals is frame.f_globals:
        return None
    return dict(frame.f_locals)


class RouteDecorators:
    """The route decorators shared by :class:`Router` and :class:`~barq.app.Barq`.

    Subclasses provide ``add_api_route(path, endpoint, *, methods, **options)``.
    Options for every decorator: ``response_model``, ``status_code``, ``tags``,
    ``dependencies``, ``summary``, ``description``, ``name``,
    ``include_in_schema``, ``response_class``, ``deprecated``, ``responses``,
    ``operation_id``, ``response_model_exclude_unset``,
    ``response_model_exclude_none``.
    """

    def add_api_route(
        self, path: str, endpoint: Callable[..., Any], *, methods: Sequence[str], **options: Any
    ) -> Route:
        raise NotImplementedError

    def route(
        self, path: str, methods: Sequence[str] = ("GET",), **options: Any
    ) -> Callable[[F], F]:
        """Decorator: register the function for ``methods`` at ``path``."""

        def decorator(func: F) -> F:
            options.setdefault("localns", _caller_locals())
            self.add_api_route(path, func, methods=methods, **options)
            return func

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``GET`` route (``HEAD`` is answered automatically)."""
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``POST`` route."""
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``PUT`` route."""
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``PATCH`` route."""
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for a ``DELETE`` route."""
        return self.route(path, ["DELETE"], **options)

    def head(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for an explicit ``HEAD`` route."""
        return self.route(path, ["HEAD"], **options)

    def options(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator for an ``OPTIONS`` route."""
        return self.route(path, ["OPTIONS"], **options)


class Router(RouteDecorators):
    """A group of routes with a shared prefix, tags and dependencies (like FastAPI's
    ``APIRouter``). Include it with ``app.include_router(router)``.

    Decorators: :meth:`get`, :meth:`post`, :meth:`put`, :meth:`patch`,
    :meth:`delete`, :meth:`head`, :meth:`options` and :meth:`route`. Their keyword
    options are those of :class:`Route` (``response_model``, ``status_code``,
    ``tags``, ``dependencies``, ``summary``, ``description``, ``name``,
    ``include_in_schema``, ``response_class``, ``deprecated``, ...).
    """

    def __init__(
        self,
        prefix: str = "",
        *,
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        include_in_schema: bool = True,
        responses: dict[int | str, Any] | None = None,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise BarqError(f"router prefix {prefix!r} must start with '/' and not end with '/'")
        self.prefix = prefix
        self.tags: list[str] = list(tags or [])
        self.dependencies: list[Any] = list(dependencies or [])
        self.include_in_schema = include_in_schema
        self.responses = dict(responses or {})
        self.routes: list[Route] = []
        self.tree = RadixTree()
        self.frozen = False

    def _check_open(self) -> None:
        if self.frozen:
            raise RuntimeError(
                "the application is already serving (frozen): add routes before startup"
            )

    def add_route(self, route: Route) -> Route:
        """Register an already built :class:`Route` (its path is used as is)."""
        self._check_open()
        self.tree.insert(route.path, sorted(route.methods), route)
        self.routes.append(route)
        return route

    def add_api_route(
        self, path: str, endpoint: Callable[..., Any], *, methods: Sequence[str], **options: Any
    ) -> Route:
        """Register ``endpoint`` for ``methods`` at ``self.prefix + path``."""
        self._check_open()
        tags = [*self.tags, *(t for t in options.pop("tags", None) or [] if t not in self.tags)]
        deps = [*self.dependencies, *(options.pop("dependencies", None) or [])]
        responses = {**self.responses, **(options.pop("responses", None) or {})}
        route = Route(
            self.prefix + path,
            endpoint,
            methods=methods,
            tags=tags,
            dependencies=deps,
            responses=responses,
            include_in_schema=options.pop("include_in_schema", True) and self.include_in_schema,
            **options,
        )
        return self.add_route(route)

    def include_router(
        self,
        router: Router,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Copy ``router``'s routes into this one under ``prefix`` (plus this router's
        own prefix), adding ``tags`` and running ``dependencies`` (then this router's)
        before each route's own."""
        self._check_open()
        if router is self:
            raise BarqError("a router cannot include itself")
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise BarqError(f"include prefix {prefix!r} must start with '/' and not end with '/'")
        outer_tags = [*self.tags, *(tags or [])]
        outer_deps = [*self.dependencies, *(dependencies or [])]
        for route in router.routes:
            self.add_route(
                route.copy_with(
                    prefix=self.prefix + prefix,
                    tags=outer_tags,
                    dependencies=outer_deps,
                    include_in_schema=include_in_schema and self.include_in_schema,
                )
            )

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` with ``params`` filled in."""
        for route in self.routes:
            if route.name == name and set(route.param_names) <= set(params):
                return route.url_path(**params)
        raise BarqError(f"no route named {name!r} with parameters {sorted(params)}")


#: FastAPI-compatible name for :class:`Router`.
APIRouter = Router
