"""Build an OpenAPI 3.1 document from an app's routes.

Everything comes from what the routes already compiled (see
:class:`barq.routing.Route`, its :class:`~barq.routing.RouteOptions` and
:class:`barq.signatures.ParamField`): parameters with
their location, alias, constraints and description; the JSON or form request
body; the response model and status code; tags, summary, description,
``operation_id``, ``deprecated``, extra ``responses``. JSON Schemas are made by
Pydantic in one batch (``TypeAdapter.json_schemas``) so that models used in
several places become one ``#/components/schemas/{Model}`` entry.

Summaries: ``summary=`` if given, else the first line of the handler's
docstring (the rest of it becomes the description), else the handler's name
("read_item" → "Read Item").
"""

from __future__ import annotations

import logging
import re
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticUndefined, core_schema, to_jsonable_python

from barq.http.semantics import body_allowed

if TYPE_CHECKING:
    from barq.routing import Route
    from barq.signatures import ParamField

__all__ = ["REF_TEMPLATE", "VALIDATION_ERROR_SCHEMAS", "get_openapi", "operation_id_for"]

logger = logging.getLogger("barq.openapi")

REF_TEMPLATE = "#/components/schemas/{model}"
_PARAM_LOCATIONS = ("path", "query", "header", "cookie")

#: FastAPI-compatible schemas of the 422 answer (``{"detail": [errors]}``)
VALIDATION_ERROR_SCHEMAS: dict[str, Any] = {
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
            "input": {"title": "Input"},
            "ctx": {"title": "Context", "type": "object"},
        },
        "required": ["loc", "msg", "type"],
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
            }
        },
    },
}


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator, but a type without a JSON Schema gets ``{}`` instead of
    failing the whole document."""

    def handle_invalid_for_json_schema(
        self, schema: core_schema.CoreSchema | Any, error_info: str
    ) -> JsonSchemaValue:
        logger.debug("no JSON Schema for %s", error_info)
        return {}

    def bytes_schema(self, schema: core_schema.BytesSchema) -> JsonSchemaValue:
        """Binary data as OpenAPI 3.1 says it (``contentMediaType``; base64 when
        the model's config sends bytes that way), as FastAPI writes it."""
        out: dict[str, Any] = {"type": "string", "contentMediaType": "application/octet-stream"}
        mode = (
            self._config.ser_json_bytes
            if self.mode == "serialization"
            else (self._config.val_json_bytes)
        )
        if mode == "base64":
            out["contentEncoding"] = "base64"
        self.update_with_validations(out, schema, self.ValidationsMapping.bytes)
        return out


def _path_template(path: str) -> str:
    return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*):[A-Za-z_]+\}", r"{\1}", path)


def operation_id_for(route: Route, method: str) -> str:
    """``operation_id=`` of the route, or FastAPI's ``{name}{path}_{method}`` with non-word
    characters replaced by ``_`` (``read_item_items__item_id__get``)."""
    if route.options.operation_id:
        return route.options.operation_id
    generate = route.options.generate_unique_id_function
    if generate is not None:
        return str(generate(route))
    raw = f"{route.name}{_path_template(route.path)}"
    return re.sub(r"\W", "_", raw) + "_" + method.lower()


def _summary_and_description(route: Route) -> tuple[str, str | None]:
    """FastAPI's rule: the summary is ``summary=`` or the handler's name as a
    title (``list_books`` → "List Books"); the description is ``description=``
    or the whole docstring."""
    description = route.description
    if route.options.summary:
        return route.options.summary, description or None
    name = str(route.name).replace("_", " ").strip().title() or "Endpoint"
    return name, description or None


def _jsonable(value: Any) -> tuple[bool, Any]:
    if value is PydanticUndefined:
        return False, None
    try:
        return True, to_jsonable_python(value)
    except Exception:
        return False, None


class _Batch:
    """Collects (key, mode, adapter) and produces the schemas in one Pydantic call."""

    def __init__(self, separate_input_output: bool = True) -> None:
        self.inputs: list[tuple[int, Any, TypeAdapter[Any]]] = []
        #: False: responses are described by the validation schema too (one
        #: ``Item``, not ``Item-Input`` / ``Item-Output`` when they differ)
        self.separate = separate_input_output

    def add(self, adapter: TypeAdapter[Any], mode: str) -> int:
        if not self.separate:
            mode = "validation"
        key = len(self.inputs)
        self.inputs.append((key, mode, adapter))
        return key

    def run(self) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
        if not self.inputs:
            return {}, {}
        schemas, definitions = TypeAdapter.json_schemas(
            self.inputs,
            ref_template=REF_TEMPLATE,
            schema_generator=_SchemaGenerator,
        )
        by_key = {key: dict(schema) for (key, _mode), schema in schemas.items()}
        return by_key, dict(definitions.get("$defs", {}))


class _Pending:
    """A schema placeholder filled after the batch ran."""

    __slots__ = ("extra", "key")

    def __init__(self, key: int, extra: Mapping[str, Any] | None = None) -> None:
        self.key = key
        self.extra = dict(extra or {})


def _field_extra(field: ParamField, *, with_default: bool = True) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    info = field.info
    if info is not None:
        if info.title:
            extra["title"] = info.title
        if info.description:
            extra["description"] = info.description
        if info.examples:
            extra["examples"] = list(info.examples)
        if info.json_schema_extra:
            extra.update(info.json_schema_extra)
        if info.deprecated:
            extra["deprecated"] = True
    if "title" not in extra:
        extra["title"] = field.alias.replace("_", " ").title()  # "x-token": "X-Token"
    if with_default and not field.required:
        ok, value = _jsonable(field.default)
        if ok:
            extra["default"] = value
    return extra


def _resolve(obj: Any, schemas: dict[int, dict[str, Any]]) -> Any:
    if isinstance(obj, _Pending):
        schema = dict(schemas.get(obj.key, {}))
        if "$ref" in schema and obj.extra:
            # keep the $ref alone-ish: sibling keywords are valid in 3.1 (JSON Schema 2020-12)
            schema = {**schema, **{k: v for k, v in obj.extra.items() if k != "title"}}
        else:
            schema.update(obj.extra)
        return schema
    if isinstance(obj, dict):
        return {k: _resolve(v, schemas) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, schemas) for v in obj]
    return obj


def _request_body(route: Route, op_id: str, batch: _Batch, bodies: dict[str, Any]) -> Any:
    body = route.body
    if body is None:
        return None
    fields = body.fields
    if body.single is not None:
        field = body.single
        schema = _Pending(batch.add(field.adapter, "validation"), _body_doc(field))
        content: dict[str, Any] = {"schema": schema}
        if field.info is not None and field.info.openapi_examples:
            content["examples"] = _jsonable(field.info.openapi_examples)[1]
        return {
            **({"required": True} if field.required else {}),
            "content": {body.media_type: content},
        }
    name = f"Body_{op_id}"
    properties = {
        f.alias: _Pending(batch.add(f.adapter, "validation"), _field_extra(f)) for f in fields
    }
    required = [f.alias for f in fields if f.required]
    component: dict[str, Any] = {"title": name, "type": "object", "properties": properties}
    if required:
        component["required"] = required
    bodies[name] = component
    media = body.media_type
    return {
        **({"required": True} if required else {}),
        "content": {media: {"schema": {"$ref": REF_TEMPLATE.format(model=name)}}},
    }


def _body_doc(field: ParamField) -> dict[str, Any]:
    # a title from the parameter's name, as FastAPI writes it (dropped beside a $ref)
    extra: dict[str, Any] = {"title": field.alias.replace("_", " ").title()}
    info = field.info
    if info is not None and info.title:
        extra["title"] = info.title
    if info is not None and info.description:
        extra["description"] = info.description
    if info is not None and info.examples:
        extra["examples"] = list(info.examples)
    return extra


def _parameters(route: Route, batch: _Batch) -> list[dict[str, Any]]:
    out = []
    seen: set[tuple[str, str]] = set()
    for field in route.plan.all_fields():
        if field.location not in _PARAM_LOCATIONS:
            continue
        if field.info is not None and not field.info.include_in_schema:
            continue
        if field.members is not None:
            for member in _member_params(field, batch):
                if (field.location, member["name"]) not in seen:
                    seen.add((field.location, member["name"]))
                    out.append(member)
            continue
        key = (field.location, field.alias)
        if key in seen:
            continue
        seen.add(key)
        param: dict[str, Any] = {
            "name": field.alias,
            "in": field.location,
            "required": field.location == "path" or field.required,
            "schema": _Pending(batch.add(field.adapter, "validation"), _field_extra(field)),
        }
        info = field.info
        if info is not None and info.description:
            param["description"] = info.description
        if info is not None and info.deprecated:
            param["deprecated"] = True
        if info is not None and info.openapi_examples:
            param["examples"] = _jsonable(info.openapi_examples)[1]
        out.append(param)
    order = {"path": 0, "query": 1, "header": 2, "cookie": 3}
    out.sort(key=lambda p: order[p["in"]])
    return out


def _member_params(field: ParamField, batch: _Batch) -> list[dict[str, Any]]:
    """The parameters of a Pydantic model of query/header/cookie parameters: one
    per model field, named as the request names it."""
    model = field.annotation
    if typing.get_origin(model) is typing.Annotated:
        model = typing.get_args(model)[0]
    assert field.members is not None
    out = []
    for (fname, finfo), (_, wire, _, _) in zip(
        model.model_fields.items(), field.members, strict=True
    ):
        extra: dict[str, Any] = {"title": finfo.title or fname.replace("_", " ").title()}
        if finfo.description:
            extra["description"] = finfo.description
        required = finfo.is_required()
        if not required:
            ok, value = _jsonable(finfo.get_default(call_default_factory=True))
            if ok:
                extra["default"] = value
        hint: Any = typing.Annotated[finfo.annotation, finfo]
        adapter: TypeAdapter[Any] = TypeAdapter(hint)
        param: dict[str, Any] = {
            "name": wire,
            "in": field.location,
            "required": required,
            "schema": _Pending(batch.add(adapter, "validation"), extra),
        }
        if finfo.description:
            param["description"] = finfo.description
        if finfo.deprecated:
            param["deprecated"] = True
        out.append(param)
    return out


def _model_adapter(model: Any) -> TypeAdapter[Any] | None:
    try:
        return TypeAdapter(model)
    except Exception:
        return None


def _responses(route: Route, has_inputs: bool, batch: _Batch, op_id: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    status = route.status_code
    success: dict[str, Any] = {"description": route.options.response_description}
    if body_allowed(status) and route.stream in ("jsonl", "sse"):
        item: Any = {}
        if route.stream_item_adapter is not None:
            item = _Pending(batch.add(route.stream_item_adapter, "serialization"))
        if route.stream == "jsonl":
            success["content"] = {"application/jsonl": {"itemSchema": item}}
        else:
            data: dict[str, Any] = {"type": "string"}
            if route.stream_item_adapter is not None:
                data.update(contentMediaType="application/json", contentSchema=item)
            event = {
                "type": "object",
                "properties": {
                    "data": data,
                    "event": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer", "minimum": 0},
                },
            }
            if route.stream_item_adapter is not None:
                event["required"] = ["data"]
            success["content"] = {"text/event-stream": {"itemSchema": event}}
    elif body_allowed(status) and _media_type(route.options.response_class) is not None:
        media = _media_type(route.options.response_class) or "application/json"
        if route.response_adapter is not None:
            # a list, dict or union is titled after the operation (a model is a $ref)
            title = f"Response_{op_id}".replace("_", " ").title()
            schema: Any = _Pending(
                batch.add(route.response_adapter, "serialization"), {"title": title}
            )
        elif media == "application/json":
            schema = {}
        else:
            schema = {"type": "string"}
        success["content"] = {media: {"schema": schema}}
    responses[str(status)] = success
    if has_inputs:
        responses["422"] = {
            "description": "Validation Error",
            "content": {
                "application/json": {
                    "schema": {"$ref": REF_TEMPLATE.format(model="HTTPValidationError")}
                }
            },
        }
    for code, spec in (route.options.responses or {}).items():
        key = str(code)
        entry = dict(responses.get(key, {}))
        spec = dict(spec or {})
        model = spec.pop("model", None)
        # content from the route, the model and the spec, merged per media type
        content: dict[str, Any] = {k: dict(v) for k, v in (entry.get("content") or {}).items()}
        if model is not None:
            adapter = _model_adapter(model)
            if adapter is not None:
                content.setdefault("application/json", {})["schema"] = _Pending(
                    batch.add(adapter, "serialization")
                )
        for media, value in (spec.pop("content", None) or {}).items():
            content[media] = {**content.get(media, {}), **dict(value or {})}
        if content:
            entry["content"] = content
        entry.update(spec)
        if "description" not in entry:
            try:
                entry["description"] = HTTPStatus(int(code)).phrase
            except (TypeError, ValueError):
                entry["description"] = "Additional Response"
        responses[key] = entry
    return responses


def _media_type(response_class: type[Any]) -> str | None:
    """What a response class sends (None: it says nothing, e.g. a redirect)."""
    for klass in response_class.__mro__:
        declared = klass.__dict__.get("media_type")
        if isinstance(declared, str):
            return declared
    default = getattr(response_class, "media_type_default", None)
    return default if isinstance(default, str) else None


def _security(route: Route, schemes: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The operation's security requirements (its security-scheme dependencies,
    with the scopes required where each sits); their schemes go into ``schemes``."""
    security = sys.modules.get("barq.security")  # no app uses a scheme without importing it
    if security is None:
        return []
    requirements: list[dict[str, list[str]]] = []
    for plan in route.plan.walk():
        scheme = plan.call
        if not isinstance(scheme, security.SecurityBase):
            continue
        schemes.setdefault(scheme.scheme_name, dict(scheme.model))
        requirement = {scheme.scheme_name: list(dict.fromkeys(plan.scopes))}
        if requirement not in requirements:
            requirements.append(requirement)
    return requirements


def get_openapi(
    *,
    title: str,
    version: str,
    routes: Iterable[Route],
    description: str | None = None,
    summary: str | None = None,
    openapi_version: str = "3.1.0",
    tags: Sequence[Mapping[str, Any]] | None = None,
    servers: Sequence[Mapping[str, Any]] | None = None,
    terms_of_service: str | None = None,
    contact: Mapping[str, Any] | None = None,
    license_info: Mapping[str, Any] | None = None,
    separate_input_output_schemas: bool = True,
    webhooks: Iterable[Route] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document (a JSON-ready dict) describing ``routes``.

    Routes with ``include_in_schema=False`` are left out; ``HEAD`` is only listed
    when it was registered explicitly. Operation ids that collide get a numeric
    suffix (and a warning in the ``barq.openapi`` log).
    """
    batch = _Batch(separate_input_output_schemas)
    paths: dict[str, dict[str, Any]] = {}
    bodies: dict[str, Any] = {}
    used_ids: dict[str, int] = {}
    security_schemes: dict[str, Any] = {}
    needs_validation_error = False

    def operation_for(route: Route, method: str) -> dict[str, Any]:
        nonlocal needs_validation_error
        summary_text, description_text = _summary_and_description(route)
        op_id = operation_id_for(route, method)
        if op_id in used_ids:
            used_ids[op_id] += 1
            logger.warning("duplicate OpenAPI operation id %r (route %s)", op_id, route.path)
            op_id = f"{op_id}_{used_ids[op_id]}"
        else:
            used_ids[op_id] = 1
        operation: dict[str, Any] = {}
        if route.options.tags:
            operation["tags"] = list(route.options.tags)
        operation["summary"] = summary_text
        if description_text:
            operation["description"] = description_text
        operation["operationId"] = op_id
        security = _security(route, security_schemes)
        if security:
            operation["security"] = security
        parameters = _parameters(route, batch)
        if parameters:
            operation["parameters"] = parameters
        request_body = _request_body(route, op_id, batch, bodies)
        if request_body is not None:
            operation["requestBody"] = request_body
        has_inputs = bool(parameters) or request_body is not None
        needs_validation_error = needs_validation_error or has_inputs
        operation["responses"] = _responses(route, has_inputs, batch, op_id)
        if route.options.callbacks:
            callbacks: dict[str, Any] = {}
            for callback in route.options.callbacks:
                for cb_method in sorted(callback.methods):
                    callbacks.setdefault(callback.name, {}).setdefault(callback.path, {})[
                        cb_method.lower()
                    ] = operation_for(callback, cb_method)
            operation["callbacks"] = callbacks
        if route.options.deprecated:
            operation["deprecated"] = True
        if route.options.openapi_extra:
            _deep_update(operation, route.options.openapi_extra)
        return operation

    for route in routes:
        if not route.options.include_in_schema or route.documentation_only:
            continue
        path = _path_template(route.path)
        for method in sorted(route.methods):
            paths.setdefault(path, {})[method.lower()] = operation_for(route, method)
    webhook_ops: dict[str, dict[str, Any]] = {}
    for route in webhooks or ():
        if route.options.include_in_schema:
            for method in sorted(route.methods):
                webhook_ops.setdefault(route.path, {})[method.lower()] = operation_for(
                    route, method
                )

    schemas, definitions = batch.run()
    info: dict[str, Any] = {"title": title, "version": version}
    if summary:
        info["summary"] = summary
    if description:
        info["description"] = description
    if terms_of_service:
        info["termsOfService"] = terms_of_service
    if contact:
        info["contact"] = dict(contact)
    if license_info:
        info["license"] = dict(license_info)
    document: dict[str, Any] = {"openapi": openapi_version, "info": info}
    if servers:
        document["servers"] = [dict(s) for s in servers]
    document["paths"] = _resolve(paths, schemas)
    if webhook_ops:
        document["webhooks"] = _resolve(webhook_ops, schemas)
    components = dict(definitions)
    components.update(_resolve(bodies, schemas))
    if needs_validation_error:
        components.update(VALIDATION_ERROR_SCHEMAS)
    if components or security_schemes:
        document["components"] = {}
        if components:
            document["components"]["schemas"] = dict(sorted(components.items()))
        if security_schemes:
            document["components"]["securitySchemes"] = security_schemes
    if tags:
        document["tags"] = [dict(t) for t in tags]
    cleaned: dict[str, Any] = _without_nulls(document)
    return cleaned


def _deep_update(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``target``: dicts key by key, lists appended, the rest replaced."""
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _deep_update(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            target[key] = current + value
        else:
            target[key] = value


def _without_nulls(value: Any) -> Any:
    """``value`` without the dict entries whose value is None, at any depth, as
    FastAPI writes its documents: an optional field says ``anyOf [..., null]``
    but not ``"default": null``."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
