"""JSON encoding and decoding for Barq.

The backend is chosen once, at import time:

- **orjson** when it is installed *and* the interpreter has a GIL
  (:func:`barq.runtime.free_threaded_build` is False). It is the fastest encoder
  on GIL builds.
- **pydantic-core** (``pydantic_core.to_json`` / ``from_json``) otherwise. It is
  fast, releases nothing it should not, and is free-threading safe.

orjson is *never imported* on a free-threaded build: its extension module does
not declare free-threading support, so importing it re-enables the GIL for the
whole process.

Both backends produce compact UTF-8 JSON bytes and understand the same extra
types: Pydantic models, dataclasses, ``datetime``/``date``/``time``, ``UUID``,
``Decimal``, ``Enum``, sets and tuples. Set ``BARQ_JSON=pydantic`` in the
environment to force pydantic-core on GIL builds too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pydantic_core

from barq.runtime import free_threaded_build

__all__ = ["JSONDecodeError", "backend", "dumps", "loads", "select_backend"]


class JSONDecodeError(ValueError):
    """Raised by :func:`loads` for malformed JSON, whatever the backend.

    ``msg`` is the backend's description of the problem.
    """

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


def _to_jsonable(value: Any) -> Any:
    """orjson ``default=`` hook: anything pydantic-core can turn into JSON types
    (a ``timedelta`` as its seconds, as FastAPI's encoder writes it)."""
    return pydantic_core.to_jsonable_python(value, timedelta_mode="float")


def _pydantic_dumps(value: Any) -> bytes:
    """Serialise ``value`` to compact UTF-8 JSON bytes (pydantic-core)."""
    return pydantic_core.to_json(value, timedelta_mode="float")


def _pydantic_loads(data: bytes | bytearray | str) -> Any:
    """Parse JSON; raises :class:`JSONDecodeError` when malformed (pydantic-core)."""
    try:
        return pydantic_core.from_json(data)
    except ValueError as exc:
        raise JSONDecodeError(str(exc)) from None


def select_backend(
    *, free_threaded: bool | None = None, env: str | None = None
) -> tuple[str, Callable[[Any], bytes], Callable[[Any], Any]]:
    """Pick the JSON backend: ``(name, dumps, loads)``.

    ``free_threaded`` defaults to :func:`barq.runtime.free_threaded_build`;
    ``env`` to the ``BARQ_JSON`` environment variable (``"pydantic"`` forces
    pydantic-core). On a free-threaded build orjson is not even imported.
    """
    if free_threaded is None:
        free_threaded = free_threaded_build()
    if env is None:
        env = os.environ.get("BARQ_JSON", "")
    if not free_threaded and env.lower() != "pydantic":
        try:
            import orjson
        except ImportError:
            pass
        else:
            option = orjson.OPT_SERIALIZE_NUMPY if hasattr(orjson, "OPT_SERIALIZE_NUMPY") else 0
            orjson_dumps = orjson.dumps
            orjson_loads = orjson.loads
            orjson_error = orjson.JSONDecodeError

            def dumps(value: Any) -> bytes:
                """Serialise ``value`` to compact UTF-8 JSON bytes (orjson)."""
                try:
                    return orjson_dumps(value, default=_to_jsonable, option=option)
                except TypeError:
                    # e.g. dict keys orjson refuses (tuples, enums): pydantic-core copes.
                    return pydantic_core.to_json(value)

            def loads(data: bytes | bytearray | memoryview | str) -> Any:
                """Parse JSON; raises :class:`JSONDecodeError` when malformed (orjson)."""
                try:
                    return orjson_loads(data)
                except orjson_error as exc:
                    raise JSONDecodeError(str(exc)) from None

            return "orjson", dumps, loads
    return "pydantic-core", _pydantic_dumps, _pydantic_loads


#: ``"orjson"`` or ``"pydantic-core"``.
backend: str
#: ``dumps(value) -> bytes``: serialise to compact UTF-8 JSON.
dumps: Callable[[Any], bytes]
#: ``loads(data) -> Any``: parse JSON bytes/str; raises :class:`JSONDecodeError`.
loads: Callable[[Any], Any]
backend, dumps, loads = select_backend()
