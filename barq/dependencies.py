"""Running a compiled :class:`~barq.params.CallPlan` for one request.

:func:`solve` fills a callable's keyword arguments from the request (path,
query, headers, cookies, body, special types) and from its dependencies, runs
the dependencies (once per request each, unless ``use_cache=False``) and
collects FastAPI-shaped validation errors instead of stopping at the first.
Generator dependencies are entered here and finished by :func:`teardown`.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pydantic

from barq import jsonlib
from barq.background import chain_background
from barq.datastructures import QueryParams
from barq.params import CallPlan, ParamField, register_special_param
from barq.requests import Request
from barq.responses import Response

if TYPE_CHECKING:
    from barq.http.messages import HTTPRequest

__all__ = [
    "BodyPlan",
    "RequestContext",
    "UnsupportedMediaType",
    "merge_sub_response",
    "solve",
    "teardown",
    "validation_errors",
]

_MISSING: Any = object()
_JSON_TYPES = ("application/json",)


class RequestContext:
    """Per-request state while solving: parsed inputs, dependency cache, cleanups."""

    __slots__ = (
        "_cookies",
        "_headers",
        "_query",
        "body_values",
        "cache",
        "errors",
        "generators",
        "path_params",
        "raw",
        "request",
        "response",
    )

    def __init__(self, request: Request, path_params: dict[str, str]) -> None:
        self.request = request
        self.raw: HTTPRequest = request.raw
        self.path_params = path_params
        self.body_values: dict[str, Any] = {}
        self.cache: dict[Any, Any] = {}
        self.errors: list[dict[str, Any]] = []
        self.generators: list[Generator[Any, Any, Any]] = []
        self.response: Response | None = None
        self._query: QueryParams | None = None
        self._headers: dict[str, list[str]] | None = None
        self._cookies: dict[str, str] | None = None

    def query(self) -> QueryParams:
        """The parsed query string (shared with ``request.query_params``)."""
        query = self._query
        if query is None:
            query = self._query = self.request.query_params
        return query

    def headers(self) -> dict[str, list[str]]:
        """Header name -> all values."""
        headers = self._headers
        if headers is None:
            headers = {}
            for key, value in self.raw.headers:
                headers.setdefault(key, []).append(value)
            self._headers = headers
        return headers

    def cookies(self) -> dict[str, str]:
        """The request cookies."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = self.request.cookies
        return cookies

    def sub_response(self) -> Response:
        """The response object injected into handlers that ask for ``Response``."""
        response = self.response
        if response is None:
            response = self.response = Response()
            response.status_code = 0  # "not set": the route's status code is used
        return response


register_special_param(Request, lambda ctx: ctx.request)
register_special_param(Response, lambda ctx: ctx.sub_response())


def _jsonable_ctx(ctx: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in ctx.items():
        if isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


def validation_errors(
    exc: pydantic.ValidationError, prefix: tuple[Any, ...]
) -> list[dict[str, Any]]:
    """FastAPI-shaped error entries from a pydantic error, ``loc`` prefixed."""
    out = []
    for err in exc.errors(include_url=False):
        entry: dict[str, Any] = {
            "type": err["type"],
            "loc": [*prefix, *err["loc"]],
            "msg": err["msg"],
            "input": err.get("input"),
        }
        ctx = err.get("ctx")
        if ctx:
            entry["ctx"] = _jsonable_ctx(ctx)
        out.append(entry)
    return out


def _missing(location: str, alias: str) -> dict[str, Any]:
    return {"type": "missing", "loc": [location, alias], "msg": "Field required", "input": None}


def _validate(field: ParamField, value: Any, errors: list[dict[str, Any]], loc: tuple) -> Any:
    validate = field.validate
    if validate is None:
        return value
    try:
        return validate(value)
    except pydantic.ValidationError as exc:
        errors.extend(validation_errors(exc, loc))
        return None


def _absent(
    field: ParamField, where: str, errors: list[dict[str, Any]], kwargs: dict[str, Any]
) -> None:
    """A parameter the request lacks: a "missing" error, or its default."""
    if field.required:
        errors.append(_missing(where, field.alias))
    else:
        kwargs[field.name] = field.get_default()


def _solve_fields(plan: CallPlan, ctx: RequestContext, kwargs: dict[str, Any]) -> None:
    errors = ctx.errors
    if plan.path:
        path_params = ctx.path_params
        converted = ctx.request.path_params
        for f in plan.path:
            raw_value = path_params.get(f.alias, _MISSING)
            if raw_value is _MISSING:
                errors.append(_missing("path", f.alias))
                continue
            value = _validate(f, raw_value, errors, ("path", f.alias))
            converted[f.alias] = value
            kwargs[f.name] = value
    if plan.query:
        query = ctx.query()
        for f in plan.query:
            if f.is_sequence:
                values = query.getlist(f.alias)
                if not values:
                    _absent(f, "query", errors, kwargs)
                    continue
                kwargs[f.name] = _validate(f, values, errors, ("query", f.alias))
                continue
            raw_value = query.get(f.alias, _MISSING)
            if raw_value is _MISSING:
                _absent(f, "query", errors, kwargs)
                continue
            kwargs[f.name] = _validate(f, raw_value, errors, ("query", f.alias))
    if plan.header:
        headers = ctx.headers()
        for f in plan.header:
            header_values = headers.get(f.alias)
            if not header_values:
                _absent(f, "header", errors, kwargs)
                continue
            value = header_values if f.is_sequence else header_values[0]
            kwargs[f.name] = _validate(f, value, errors, ("header", f.alias))
    if plan.cookie:
        cookies = ctx.cookies()
        for f in plan.cookie:
            raw_value = cookies.get(f.alias, _MISSING)
            if raw_value is _MISSING:
                _absent(f, "cookie", errors, kwargs)
                continue
            kwargs[f.name] = _validate(f, raw_value, errors, ("cookie", f.alias))
    if plan.body:
        body_values = ctx.body_values
        for f in plan.body:
            value = body_values.get(f.alias, _MISSING)
            if value is not _MISSING:
                kwargs[f.name] = value
            elif not f.required:
                kwargs[f.name] = f.get_default()
    for name, factory in plan.specials:
        kwargs[name] = factory(ctx)


def solve(plan: CallPlan, ctx: RequestContext) -> dict[str, Any] | None:
    """Keyword arguments for ``plan.call``, or None when something failed validation.

    Dependencies are run (and cached in ``ctx.cache``) on the way; errors are
    appended to ``ctx.errors``; entered generator dependencies to ``ctx.generators``.
    """
    kwargs: dict[str, Any] = {}
    errors_before = len(ctx.errors)
    for node in plan.dependencies:
        sub = node.plan
        call = sub.call
        if node.use_cache:
            cached = ctx.cache.get(call, _MISSING)
            if cached is not _MISSING:
                if node.name is not None:
                    kwargs[node.name] = cached
                continue
        sub_kwargs = solve(sub, ctx) if not sub.trivial else {}
        if sub_kwargs is None:
            continue
        if sub.is_generator:
            gen = call(**sub_kwargs)
            try:
                value = next(gen)
            except StopIteration:
                raise RuntimeError(f"dependency {sub.name} did not yield a value") from None
            ctx.generators.append(gen)
        else:
            value = call(**sub_kwargs)
        if node.use_cache:
            ctx.cache[call] = value
        if node.name is not None:
            kwargs[node.name] = value
    if not plan.trivial:
        _solve_fields(plan, ctx, kwargs)
    if len(ctx.errors) != errors_before:
        return None
    return kwargs


def teardown(
    generators: list[Generator[Any, Any, Any]], exc: BaseException | None
) -> BaseException | None:
    """Finish generator dependencies in reverse order.

    With ``exc`` the exception is thrown into each generator (so ``except`` /
    ``finally`` blocks see it); a generator may replace it by raising another one.
    Returns the exception that should propagate (None when all went well).
    """
    while generators:
        gen = generators.pop()
        if exc is None:
            try:
                next(gen)
            except StopIteration:
                continue
            except BaseException as err:
                exc = err
                continue
            exc = RuntimeError(f"dependency generator {gen!r} yielded more than once")
            gen.close()
        else:
            try:
                gen.throw(exc)
            except StopIteration:
                # the generator swallowed it; there is still no response: keep it
                continue
            except BaseException as err:
                if err is not exc:
                    err.__context__ = exc
                exc = err
                continue
            gen.close()
    return exc


class BodyPlan:
    """How a route reads its JSON body: one model, or several fields embedded by name."""

    __slots__ = ("embed", "fields", "single")

    def __init__(self, fields: list[ParamField]) -> None:
        unique: dict[str, ParamField] = {}
        for f in fields:
            unique.setdefault(f.alias, f)
        self.fields = tuple(unique.values())
        self.embed = len(self.fields) > 1 or any(f.embed for f in self.fields)
        self.single = self.fields[0] if len(self.fields) == 1 and not self.embed else None

    @property
    def required(self) -> bool:
        """Whether a body must be sent."""
        return any(f.required for f in self.fields)

    def read(self, ctx: RequestContext) -> None:
        """Parse and validate the body into ``ctx.body_values`` (errors into ``ctx.errors``).

        Raises :class:`UnsupportedMediaType` for a non-JSON content type.
        """
        raw = ctx.raw
        body = raw.body
        errors = ctx.errors
        if not body:
            for f in self.fields:
                if f.required:
                    loc = ["body"] if self.single is not None else ["body", f.alias]
                    errors.append(
                        {"type": "missing", "loc": loc, "msg": "Field required", "input": None}
                    )
            return
        content_type = raw.header("content-type")
        if content_type is not None:
            media = content_type.split(";", 1)[0].strip().lower()
            if not (
                media in _JSON_TYPES
                or (media.startswith("application/") and media.endswith("+json"))
            ):
                raise UnsupportedMediaType(media)
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
            errors.append(
                {
                    "type": "dict_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": data,
                }
            )
            return
        for f in self.fields:
            value = data.get(f.alias, _MISSING)
            if value is _MISSING:
                if f.required:
                    errors.append(_missing("body", f.alias))
                continue
            try:
                ctx.body_values[f.alias] = f.adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                errors.extend(validation_errors(exc, ("body", f.alias)))


class UnsupportedMediaType(Exception):
    """The body is not JSON (the app answers 415)."""

    def __init__(self, media_type: str) -> None:
        super().__init__(media_type)
        self.media_type = media_type


def _json_error(body: bytes, exc: Exception) -> dict[str, Any]:
    pos: int = 0
    msg = str(exc)
    try:
        json.loads(body)
    except json.JSONDecodeError as std:
        pos, msg = std.pos, std.msg
    except (UnicodeDecodeError, ValueError) as other:
        msg = str(other)
    return {
        "type": "json_invalid",
        "loc": ["body", pos],
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": msg},
    }


def merge_sub_response(final: Response, sub: Response | None) -> Response:
    """Copy headers, cookies and background set on an injected ``Response`` into ``final``."""
    if sub is None:
        return final
    if sub._headers is not None:
        for key, value in sub._headers.raw:
            if key == "set-cookie":
                final.headers.append(key, value)
            else:
                final.headers[key] = value
    if sub.background is not None:
        # the returned response's own background runs first, then the injected tasks
        final.background = chain_background(final.background, sub.background)
    return final
