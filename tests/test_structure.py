"""The module structure docs/architecture.md describes, checked.

- importing a layer loads only that layer (``barq.http`` without Pydantic or the
  framework; ``barq.server`` without metrics or the framework);
- the server and metrics packages never import each other (not even inside a
  function): they meet through ``barq.server.interfaces``;
- serving a Barq app never imports the CLI's libraries (typer, rich, watchfiles);
- one request passes the six framework files of the documented flow in order,
  each calling only later ones (plus data modules that call nothing back);
- the stats endpoint's threads are named apart from the application server's.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import barq

ROOT = Path(barq.__file__).resolve().parent

#: The files one request passes through, in order (docs/architecture.md).
FLOW = [
    "barq.app",
    "barq.radix",
    "barq.routing",
    "barq.bodies",
    "barq.dependencies",
    "barq.responses",
]
#: Data modules used along the way; they never call a flow module.
LEAVES = {
    "barq.requests",
    "barq.context",
    "barq.datastructures",
    "barq.exceptions",
    "barq.jsonlib",
    "barq.background",
    "barq.http.messages",
    "barq.http.semantics",
}


def _modules_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(result.stdout.split())


def test_importing_the_http_layer_loads_neither_pydantic_nor_the_framework() -> None:
    loaded = _modules_after("import barq.http, barq.http.parser, barq.http.serializer")
    assert not any(m == "pydantic" or m.startswith("pydantic.") for m in loaded)
    ours = {m for m in loaded if m.startswith("barq")}
    allowed = ("barq", "barq._version", "barq.runtime")
    assert all(m in allowed or m.startswith("barq.http") for m in ours), ours


def test_importing_the_server_loads_no_metrics_and_no_framework() -> None:
    loaded = _modules_after("import barq.server")
    ours = {m for m in loaded if m.startswith("barq")}
    assert not any(m.startswith("barq.metrics") for m in ours), ours
    assert "barq.app" not in ours and "pydantic" not in loaded


def _imported_names(package: Path) -> set[str]:
    """Every module named in an import statement anywhere under ``package``."""
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


def test_server_and_metrics_never_import_each_other() -> None:
    server_imports = _imported_names(ROOT / "server")
    metrics_imports = _imported_names(ROOT / "metrics")
    assert not {n for n in server_imports if n.startswith("barq.metrics")}
    assert not {n for n in metrics_imports if n.startswith("barq.server")}
    framework = {"barq.app", "barq.routing", "barq.requests", "barq.responses"}
    assert not server_imports & framework


def _module_level_imports() -> dict[str, set[str]]:
    """Module -> the barq modules it imports at module level (not in functions or
    ``if TYPE_CHECKING:`` blocks)."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[module] = {d for d in deps if d.startswith("barq")}
    return graph


def test_no_import_cycles_between_modules() -> None:
    graph = _module_level_imports()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done or module not in graph:
            return
        for dep in sorted(graph[module]):
            visit(dep, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_serving_an_app_never_imports_the_cli_libraries() -> None:
    statement = (
        "from barq import Barq\n"
        "from barq.server import Server\n"
        "from barq.testing import TestClient\n"
        "app = Barq()\n"
        "@app.get('/')\n"
        "def root() -> dict: return {'ok': True}\n"
        "assert TestClient(app).get('/').json() == {'ok': True}\n"
        "server = Server(app, host='127.0.0.1', port=0, threads=1)\n"
        "server.start(); server.stop()"
    )
    loaded = _modules_after(statement)
    for library in ("typer", "rich", "watchfiles", "click"):
        assert library not in loaded, f"{library} imported by serving an app"


def test_one_request_follows_the_documented_files_forward_only() -> None:
    from pydantic import BaseModel

    from barq import Barq, Depends
    from barq.testing import TestClient

    app = Barq()

    class Item(BaseModel):
        name: str
        price: float

    def connection() -> dict[str, int]:
        return {"conn": 1}

    @app.post("/items/{item_id}")
    def create(
        item_id: int, item: Item, q: str | None = None, conn: dict = Depends(connection)
    ) -> Item:
        return item

    client = TestClient(app)
    body = {"name": "n", "price": 1.0}
    assert client.post("/items/1?q=a", json=body).json() == body  # warm: build the app

    crossings: list[tuple[str, str]] = []

    def profile(frame, event, arg):  # type: ignore[no-untyped-def]
        if event != "call" or frame.f_back is None:
            return
        callee = frame.f_globals.get("__name__", "")
        caller = frame.f_back.f_globals.get("__name__", "")
        if callee.startswith("barq") and caller != callee:
            crossings.append((caller, callee))

    sys.setprofile(profile)
    try:
        response = client.post("/items/1?q=a", json=body)
    finally:
        sys.setprofile(None)
    assert response.json() == body

    framework = {c for pair in crossings for c in pair if c.startswith("barq")}
    framework -= {"barq.testing"}
    assert framework <= set(FLOW) | LEAVES, framework - set(FLOW) - LEAVES
    entered = [callee for _, callee in crossings if callee in FLOW]
    first_seen = list(dict.fromkeys(entered))
    assert first_seen == FLOW, first_seen
    for caller, callee in crossings:
        if caller in LEAVES:
            assert callee not in FLOW, f"{caller} (data) calls back into {callee}"
        if caller in FLOW and callee in FLOW:
            assert FLOW.index(callee) > FLOW.index(caller), f"{caller} calls back {callee}"


@pytest.mark.timeout(30)
def test_stats_endpoint_threads_are_named_apart_from_the_app_server() -> None:
    from barq.http.messages import HTTPResponse
    from barq.metrics import Metrics
    from barq.server import Server, ServerConfig
    from barq.stats import start_stats_server

    earlier = {t.name for t in threading.enumerate()}  # e.g. helper threads of other tests
    metrics = Metrics()
    server = Server(
        lambda request: HTTPResponse(200, [], b"ok"),
        ServerConfig(host="127.0.0.1", port=0, threads=2, metrics=metrics),
    )
    server.start()
    stats = start_stats_server(metrics, "127.0.0.1", 0, register=False)
    try:
        names = {t.name for t in threading.enumerate()}
        assert {"barq-reactor", "barq-worker-0", "barq-worker-1"} <= names
        assert {"barq-stats-reactor", "barq-stats-worker-0", "barq-stats-worker-1"} <= names
        app_threads = {n for n in names - earlier if n.startswith("barq-") and "stats" not in n}
        assert app_threads == {"barq-reactor", "barq-worker-0", "barq-worker-1"}
    finally:
        stats.stop()
        server.stop()
