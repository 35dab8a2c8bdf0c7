"""The benchmark scenarios: which request wrk sends and what a correct answer is.

Every scenario is checked once per contender before it is measured (status and
body), so a contender that answers the wrong thing fast cannot win.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.apps.common import (
    CPU_ITERATIONS,
    LARGE_BODY,
    ORDER,
    ROUTE_COUNT,
    SMALL,
    NewItem,
    cpu_work,
    item_summary,
    route_payload,
)

__all__ = ["SCENARIOS", "Scenario", "get_scenarios"]

POST_BODY = json.dumps(
    {"name": "widget", "price": 9.99, "quantity": 3, "tags": ["bench", "post"]},
    separators=(",", ":"),
)
DB_ITEM_ID = 42


def _json_equals(expected: Any) -> Callable[[bytes], str | None]:
    def check(body: bytes) -> str | None:
        try:
            got = json.loads(body)
        except ValueError:
            return f"body is not JSON: {body[:80]!r}"
        return None if got == expected else f"expected {expected!r}, got {got!r}"

    return check


def _bytes_equal(expected: bytes) -> Callable[[bytes], str | None]:
    def check(body: bytes) -> str | None:
        if body == expected:
            return None
        return f"expected {len(expected)} known bytes, got {len(body)} bytes"

    return check


def _paths_lua() -> str:
    # Pre-formatted requests, one per route, rotated per connection thread. They
    # are built in init(): wrk only sets the Host header (wrk.headers) after the
    # script's top level ran, and HTTP/1.1 requests without Host are invalid
    # (Barq answers 400; lenient servers let it pass).
    return f"""
local requests = {{}}
function init(args)
  for r = 0, {ROUTE_COUNT - 1} do
    requests[#requests + 1] = wrk.format("GET", "/r" .. r .. "/items/" .. (r * 7 + 1))
  end
end
local i = 0
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""


def _post_lua() -> str:
    body = POST_BODY.replace("\\", "\\\\").replace('"', '\\"')
    return f"""
wrk.method = "POST"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass(frozen=True)
class Scenario:
    """One kind of request, measured against every contender."""

    name: str
    title: str
    path: str
    check: Callable[[bytes], str | None]
    method: str = "GET"
    body: bytes | None = None
    expected_status: int = 200
    lua: str = ""
    headers: dict[str, str] = field(default_factory=dict)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("small-json", 'small JSON {"message": "hello"}', "/hello", _json_equals(SMALL)),
    Scenario(
        "pydantic-json",
        "nested pydantic model (10 sub-models)",
        "/json",
        _json_equals(ORDER.model_dump(mode="json")),
    ),
    Scenario(
        "cpu",
        f"CPU-bound ({CPU_ITERATIONS // 1000}k-iteration Python loop)",
        "/cpu",
        _json_equals(cpu_work()),
    ),
    Scenario(
        "sqlite",
        "SQLite read via dependency (per-thread connection)",
        f"/db?item_id={DB_ITEM_ID}",
        _json_equals({"id": DB_ITEM_ID, "name": f"item-{DB_ITEM_ID}", "price": DB_ITEM_ID * 0.5}),
    ),
    Scenario(
        "post",
        "POST with pydantic validation",
        "/items",
        _json_equals(item_summary(NewItem.model_validate_json(POST_BODY))),
        method="POST",
        body=POST_BODY.encode(),
        expected_status=201,
        lua=_post_lua(),
        headers={"Content-Type": "application/json"},
    ),
    Scenario("large", "64 KiB response", "/bytes64k", _bytes_equal(LARGE_BODY)),
    Scenario(
        "paths",
        f"path parameters, {ROUTE_COUNT}-route app",
        "/r7/items/50",
        _json_equals(route_payload(7, 50)),
        lua=_paths_lua(),
    ),
)


def get_scenarios(names: list[str] | None) -> list[Scenario]:
    """The scenarios called ``names`` (all when None), in the canonical order."""
    if not names:
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        choices = ", ".join(known)
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; choose from {choices}")
    return [s for s in SCENARIOS if s.name in names]
