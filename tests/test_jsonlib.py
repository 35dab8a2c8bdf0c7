"""barq.jsonlib: backend choice (never orjson on free-threaded builds) and round trips."""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
import sys
import uuid
from decimal import Decimal
from enum import Enum

import pytest
from pydantic import BaseModel

from barq import jsonlib
from barq.runtime import free_threaded_build


class Color(Enum):
    red = "red"


class Model(BaseModel):
    a: int


@dataclasses.dataclass
class DC:
    b: str


def test_dumps_handles_rich_types() -> None:
    value = {
        "model": Model(a=1),
        "dc": DC("x"),
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "day": datetime.date(2024, 1, 2),
        "id": uuid.UUID(int=1),
        "enum": Color.red,
        "tuple": (1, 2),
        "unicode": "\u00e9\u4e2d",
    }
    out = jsonlib.loads(jsonlib.dumps(value))
    assert out["model"] == {"a": 1} and out["dc"] == {"b": "x"}
    assert out["when"].startswith("2024-01-02T03:04:05")
    assert out["day"] == "2024-01-02"
    assert out["id"] == "00000000-0000-0000-0000-000000000001"
    assert out["enum"] == "red" and out["tuple"] == [1, 2]
    assert out["unicode"] == "\u00e9\u4e2d"
    assert jsonlib.loads(jsonlib.dumps(Decimal("1.5"))) in ("1.5", 1.5)


def test_compact_bytes_output() -> None:
    assert jsonlib.dumps({"a": [1, 2]}) == b'{"a":[1,2]}'


def test_loads_errors_are_json_decode_errors() -> None:
    for bad in (b"{", b"[1,]", b"\xff", b"nan?"):
        with pytest.raises(jsonlib.JSONDecodeError):
            jsonlib.loads(bad)
    assert issubclass(jsonlib.JSONDecodeError, ValueError)


def test_select_backend() -> None:
    name, dumps, loads = jsonlib.select_backend(free_threaded=True)
    assert name == "pydantic-core"
    assert loads(dumps({"x": 1})) == {"x": 1}
    name, _, _ = jsonlib.select_backend(free_threaded=False, env="pydantic")
    assert name == "pydantic-core"
    try:
        import orjson  # noqa: F401
    except ImportError:
        expected = "pydantic-core"
    else:
        expected = "orjson"
    if not free_threaded_build():
        assert jsonlib.select_backend(free_threaded=False, env="")[0] == expected
        assert jsonlib.backend == expected or jsonlib.backend == "pydantic-core"


def test_orjson_never_imported_on_free_threaded_build() -> None:
    code = (
        "import sys, barq.jsonlib as j, barq.runtime as r;"
        "print(j.backend, 'orjson' in sys.modules, r.free_threaded_build(), r.gil_enabled())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    backend, imported, free_threaded, gil = out
    if free_threaded == "True":
        assert backend == "pydantic-core"
        assert imported == "False"
        assert gil == "False"
    else:
        assert backend in ("orjson", "pydantic-core")


def test_orjson_fallback_for_unusual_keys() -> None:
    name, dumps, _ = jsonlib.select_backend()
    assert jsonlib.loads(dumps({1: "int key"})) == {"1": "int key"}
    del name
