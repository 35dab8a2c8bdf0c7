"""Running a compiled :class:`~barq.signatures.CallPlan` for one request.

:func:`solve` fills a callable's keyword arguments from the request (path,
query, headers, cookies, body values, special types) and from its
dependencies, runs the dependencies (once per request each, unless
``use_cache=False``) and collects FastAPI-shaped validation errors instead of
stopping at the first. Generator dependencies are entered here and finished by
:func:`teardown`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any

import pydantic

from barq.context import RequestContext
from barq.exceptions import missing_error, validation_errors
from barq.signatures import CallPlan, DependencyNode, ParamField

__all__ = ["solve", "solve_async", "teardown", "teardown_async"]

_MISSING: Any = object()


def _validate(
    field: ParamField, value: Any, errors: list[dict[str, Any]], loc: tuple[str, str]
) -> Any:
    validate = field.validate
    if validate is None:
        return value
    try:
        return validate(value)
    except pydantic.ValidationError as exc:
        errors.extend(validation_errors(exc, loc))
        return None


def _model_value(field: ParamField, pairs: list[tuple[str, str]], ctx: RequestContext) -> Any:
    """A Pydantic model of query/header/cookie parameters, from the request's
    ``(name, value)`` pairs: its fields by their names in the request; the other
    names too, so that ``extra="forbid"`` can refuse them."""
    assert field.members is not None
    by_wire: dict[str, list[str]] = {}
    for name, value in pairs:
        by_wire.setdefault(name, []).append(value)
    data: dict[str, Any] = {}
    taken: set[str] = set()
    for key, wire, is_list, empty_when_absent in field.members:
        values = by_wire.get(wire)
        taken.add(wire)
        if values:
            data[key] = values if is_list else values[0]
        elif empty_when_absent:
            data[key] = []
    for name, values in by_wire.items():
        if name not in taken and name not in data:
            data[name] = values[0] if len(values) == 1 else values
    try:
        return field.adapter.validate_python(data)
    except pydantic.ValidationError as exc:
        ctx.errors.extend(validation_errors(exc, (field.location,)))
        return None


def _absent(
    field: ParamField, where: str, errors: list[dict[str, Any]], kwargs: dict[str, Any]
) -> None:
    """A parameter the request lacks: a "missing" error, or its default."""
    if field.required:
        errors.append(missing_error(where, field.alias))
    else:
        kwargs[field.name] = field.get_default()


def _solve_fields(plan: CallPlan, ctx: RequestContext, kwargs: dict[str, Any]) -> bool:
    """Fill ``kwargs`` with ``plan``'s own request parameters; False when a
    required one is missing or invalid (the errors are in ``ctx.errors``)."""
    errors = ctx.errors
    if plan.path:
        path_params = ctx.path_params
        converted = ctx.request.path_params
        for f in plan.path:
            raw_value = path_params.get(f.alias, _MISSING)
            if raw_value is _MISSING:
                errors.append(missing_error("path", f.alias))
                continue
            value = _validate(f, raw_value, errors, ("path", f.alias))
            converted[f.alias] = value
            kwargs[f.name] = value
    if plan.query:
        query = ctx.query()
        for f in plan.query:
            if f.members is not None:
                kwargs[f.name] = _model_value(f, query.multi_items(), ctx)
                continue
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
            if f.members is not None:
                pairs = [(k, v) for k, values in headers.items() for v in values]
                kwargs[f.name] = _model_value(f, pairs, ctx)
                continue
            header_values = headers.get(f.alias)
            if not header_values:
                _absent(f, "header", errors, kwargs)
                continue
            value = header_values if f.is_sequence else header_values[0]
            kwargs[f.name] = _validate(f, value, errors, ("header", f.alias))
    if plan.cookie:
        cookies = ctx.cookies()
        for f in plan.cookie:
            if f.members is not None:
                kwargs[f.name] = _model_value(f, list(cookies.items()), ctx)
                continue
            raw_value = cookies.get(f.alias, _MISSING)
            if raw_value is _MISSING:
                _absent(f, "cookie", errors, kwargs)
                continue
            kwargs[f.name] = _validate(f, raw_value, errors, ("cookie", f.alias))
    complete = True
    if plan.body:
        body_values = ctx.body_values
        for f in plan.body:
            value = body_values.get(f.alias, _MISSING)
            if value is not _MISSING:
                kwargs[f.name] = value
            elif not f.required:
                kwargs[f.name] = f.get_default()
            else:  # the body plan has reported it (a 422): never call without it
                complete = False
    for name, factory in plan.specials:
        kwargs[name] = factory(ctx)
    return complete


def _enter_generator(
    node: DependencyNode, gen: Generator[Any, Any, Any], ctx: RequestContext
) -> Any:
    """The value a generator dependency yields; the generator is kept for teardown."""
    try:
        value = next(gen)
    except StopIteration:
        raise RuntimeError(f"dependency {node.plan.name} did not yield a value") from None
    (ctx.function_generators if node.function_scope else ctx.generators).append(gen)
    return value


def _own_fields(
    plan: CallPlan, ctx: RequestContext, kwargs: dict[str, Any], errors_before: int
) -> dict[str, Any] | None:
    """``kwargs`` completed with ``plan``'s own parameters, or None on any error."""
    if not plan.trivial and not _solve_fields(plan, ctx, kwargs):
        if not ctx.errors:
            ctx.errors.append(missing_error("body"))
        return None
    if len(ctx.errors) != errors_before:
        return None
    return kwargs


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
            cached = ctx.cache.get(node.cache_key, _MISSING)
            if cached is not _MISSING:
                if node.name is not None:
                    kwargs[node.name] = cached
                continue
        sub_kwargs = solve(sub, ctx) if not sub.trivial else {}
        if sub_kwargs is None:
            continue
        if sub.is_generator:
            value = _enter_generator(node, call(**sub_kwargs), ctx)
        else:
            value = call(**sub_kwargs)
        if node.use_cache:
            ctx.cache[node.cache_key] = value
        if node.name is not None:
            kwargs[node.name] = value
    return _own_fields(plan, ctx, kwargs, errors_before)


async def solve_async(plan: CallPlan, ctx: RequestContext) -> dict[str, Any] | None:
    """:func:`solve` for a plan with async parts (``plan.needs_async``): ``async def``
    dependencies are awaited, async generator dependencies entered (and finished by
    :func:`teardown_async`); plain ones run inline, on this worker thread."""
    kwargs: dict[str, Any] = {}
    errors_before = len(ctx.errors)
    for node in plan.dependencies:
        sub = node.plan
        call = sub.call
        if node.use_cache:
            cached = ctx.cache.get(node.cache_key, _MISSING)
            if cached is not _MISSING:
                if node.name is not None:
                    kwargs[node.name] = cached
                continue
        if sub.trivial:
            sub_kwargs: dict[str, Any] | None = {}
        elif sub.needs_async:
            sub_kwargs = await solve_async(sub, ctx)
        else:
            sub_kwargs = solve(sub, ctx)
        if sub_kwargs is None:
            continue
        if sub.is_async_generator:
            agen = call(**sub_kwargs)
            try:
                value = await agen.__anext__()
            except StopAsyncIteration:
                raise RuntimeError(f"dependency {sub.name} did not yield a value") from None
            (ctx.function_generators if node.function_scope else ctx.generators).append(agen)
        elif sub.is_generator:
            value = _enter_generator(node, call(**sub_kwargs), ctx)
        elif sub.is_async:
            value = await call(**sub_kwargs)
        else:
            value = call(**sub_kwargs)
        if node.use_cache:
            ctx.cache[node.cache_key] = value
        if node.name is not None:
            kwargs[node.name] = value
    return _own_fields(plan, ctx, kwargs, errors_before)


async def teardown_async(generators: list[Any], exc: BaseException | None) -> BaseException | None:
    """:func:`teardown` for a mix of generator and async generator dependencies."""
    while generators:
        gen = generators.pop()
        if not isinstance(gen, AsyncGenerator):
            exc = teardown([gen], exc)
            continue
        if exc is None:
            try:
                await gen.__anext__()
            except StopAsyncIteration:
                continue
            except BaseException as err:
                exc = err
                continue
            exc = RuntimeError(f"dependency generator {gen!r} yielded more than once")
            await gen.aclose()
        else:
            try:
                await gen.athrow(exc)
            except StopAsyncIteration:
                continue
            except BaseException as err:
                if err is not exc:
                    err.__context__ = exc
                exc = err
                continue
            await gen.aclose()
    return exc


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
