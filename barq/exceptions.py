"""Exceptions a handler may raise, and the validation errors Barq raises itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pydantic

__all__ = [
    "BarqError",
    "HTTPException",
    "RequestValidationError",
    "ResponseValidationError",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRequestValidationError",
    "clip_input",
    "missing_error",
    "validation_errors",
]

#: Levels of a rejected input shown in a 422 before it is cut (see :func:`clip_input`).
INPUT_DEPTH = 32


class BarqError(Exception):
    """Base class for configuration errors raised while building an application."""


#: the name FastAPI apps catch (``from barq.exceptions import FastAPIError``)
FastAPIError = BarqError


class HTTPException(Exception):
    """Stop handling the request and answer ``status_code`` with ``{"detail": detail}``.

    ``detail`` may be any JSON-serialisable value (default: the status phrase);
    ``headers`` are added to the response (e.g. ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if detail is None:
            try:
                detail = HTTPStatus(status_code).phrase
            except ValueError:
                detail = ""
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers else None

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class RequestValidationError(Exception):
    """The request did not match the handler's parameters; answered with 422.

    ``errors()`` gives FastAPI-shaped entries:
    ``{"type": ..., "loc": ["query", "q"], "msg": ..., "input": ...}``.
    ``body`` is the parsed request body when there was one.
    """

    def __init__(self, errors: Sequence[Mapping[str, Any]], *, body: Any = None) -> None:
        super().__init__(errors)
        self._errors = list(errors)
        self.body = body

    def errors(self) -> list[Mapping[str, Any]]:
        """The list of error entries."""
        return self._errors

    def __str__(self) -> str:
        lines = [f"{len(self._errors)} validation error(s):"]
        for err in self._errors:
            loc = ".".join(str(part) for part in err.get("loc", ()))
            lines.append(f"  {loc}: {err.get('msg')}")
        return "\n".join(lines)


class ResponseValidationError(Exception):
    """A handler's return value did not match its response model (a server bug: 500)."""

    def __init__(self, errors: Sequence[Mapping[str, Any]], *, endpoint: str = "") -> None:
        super().__init__(errors)
        self._errors = list(errors)
        self.endpoint = endpoint

    def errors(self) -> list[Mapping[str, Any]]:
        """The list of error entries (``loc`` starts with ``"response"``)."""
        return self._errors

    def __str__(self) -> str:
        where = f" from {self.endpoint}" if self.endpoint else ""
        lines = [f"{len(self._errors)} validation error(s) in the response{where}:"]
        for err in self._errors:
            loc = ".".join(str(part) for part in err.get("loc", ()))
            lines.append(f"  {loc}: {err.get('msg')} (input: {err.get('input')!r})")
        return "\n".join(lines)


def _jsonable_ctx(ctx: Mapping[str, Any]) -> dict[str, Any]:
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


def clip_input(value: Any, depth: int = INPUT_DEPTH) -> Any:
    """``value`` with lists and dicts nested deeper than ``depth`` replaced by
    ``"…"`` (for echoing hostile input in an error response)."""
    if isinstance(value, list | tuple):
        return [clip_input(v, depth - 1) for v in value] if depth > 0 else "…"
    if isinstance(value, dict):
        return {str(k): clip_input(v, depth - 1) for k, v in value.items()} if depth > 0 else "…"
    if value is None or isinstance(value, str | int | float):
        return value
    import pydantic_core  # only on the error path (this module stays import-light)

    try:  # dates, UUIDs, models: what JSON can carry; an uploaded file by its name
        return pydantic_core.to_jsonable_python(value)
    except Exception:
        filename = getattr(value, "filename", None)
        return filename if isinstance(filename, str) else type(value).__name__


def missing_error(*loc: str) -> dict[str, Any]:
    """The error entry for a required parameter the request lacks."""
    return {"type": "missing", "loc": list(loc), "msg": "Field required", "input": None}


# -- WebSockets (see barq.websockets) ----------------------------------------------


class WebSocketDisconnect(Exception):
    """The client closed the WebSocket (or it was lost: code 1006)."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        super().__init__(code, reason or "")
        self.code = code
        self.reason = reason or ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, reason={self.reason!r})"


class WebSocketException(Exception):
    """Raise it in an endpoint or dependency to close the WebSocket with ``code``."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        super().__init__(code, reason or "")
        self.code = code
        self.reason = reason or ""


class WebSocketRequestValidationError(Exception):
    """A WebSocket endpoint's parameters did not validate (closes with 1008)."""

    def __init__(self, errors: Sequence[Any]) -> None:
        super().__init__(errors)
        self._errors = list(errors)

    def errors(self) -> list[Any]:
        return self._errors
