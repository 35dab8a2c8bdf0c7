"""``barq run`` and ``barq routes`` end to end, plus the proxy-headers wrapper,
settings precedence and app discovery."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from barq.http.messages import HTTPRequest, HTTPResponse
from barq_cli.config import ToolConfig
from barq_cli.discovery import DiscoveryError, resolve_app
from barq_cli.proxy import ProxyHeadersApp, TrustedProxies
from barq_cli.watching import ChangeFilter

CLI = [sys.executable, "-m", "barq_cli"]

ECHO_APP = """\
import json
from barq.http.messages import HTTPResponse


def app(request):
    body = json.dumps({"client": request.client and request.client[0],
                       "scheme": request.scheme, "size": len(request.body)})
    return HTTPResponse(200, [("content-type", "application/json")], body.encode())
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARQ_")}
    return dict(env, COLUMNS="200", NO_COLOR="1", **extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def barq_run(cwd: Path, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*CLI, "run", *args], cwd=cwd, env=_env(**env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_port(port: int, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"barq run exited: {proc.stdout.read() if proc.stdout else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError("barq run did not start listening")


def request(port: int, method: str = "GET", body: bytes = b"", headers=None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, "/", body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run_cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=60
    )


# -- barq run -------------------------------------------------------------------------


def test_run_serves_applies_limits_and_stops_cleanly(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    port = free_port()
    with barq_run(tmp_path, "--port", str(port), "--max-body-bytes", "10") as proc:
        wait_for_port(port, proc)
        status, body = request(port)
        assert status == 200
        assert json.loads(body) == {"client": "127.0.0.1", "scheme": "http", "size": 0}
        assert request(port, "POST", b"x" * 5)[0] == 200
        assert request(port, "POST", b"x" * 100)[0] == 413
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_run_reads_env_and_tool_barq_with_cli_precedence(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(ECHO_APP)
    tool_port, env_port = free_port(), free_port()
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.barq]\napp = "service:app"\nport = {tool_port}\nmax-body-bytes = 4\n'
    )
    with barq_run(tmp_path) as proc:  # [tool.barq] app, port and limit
        wait_for_port(tool_port, proc)
        assert request(tool_port, "POST", b"12345")[0] == 413
    with barq_run(tmp_path, BARQ_PORT=str(env_port), BARQ_MAX_BODY_BYTES="100") as proc:
        wait_for_port(env_port, proc)  # the environment beats [tool.barq]
        assert request(env_port, "POST", b"12345")[0] == 200
    cli_port = free_port()
    with barq_run(tmp_path, "--port", str(cli_port), BARQ_PORT=str(env_port)) as proc:
        wait_for_port(cli_port, proc)  # the command line beats the environment
        assert request(cli_port)[0] == 200


@pytest.mark.parametrize("backend", ["poll", "select"])
def test_run_serves_on_the_selectors_backend_when_asked(tmp_path: Path, backend: str) -> None:
    """BARQ_EVENT_BACKEND (or --event-backend) forces the portable backend, and
    the start line says which one serves."""
    (tmp_path / "main.py").write_text(ECHO_APP)
    port = free_port()
    with barq_run(tmp_path, "--port", str(port), BARQ_EVENT_BACKEND=backend) as proc:
        wait_for_port(port, proc)
        for _ in range(3):
            assert request(port)[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        output = proc.stdout.read() if proc.stdout else ""
    assert f"threads on selectors: {backend}" in output


def test_run_on_a_unix_socket_with_proxy_headers(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    path = tmp_path / "app.sock"
    with barq_run(
        tmp_path, "--uds", str(path), "--proxy-headers", "--forwarded-allow-ips", "unix"
    ) as proc:
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))
            client.sendall(
                b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n"
                b"X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
            )
            data = b""
            while chunk := client.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert json.loads(body) == {"client": "203.0.113.7", "scheme": "https", "size": 0}


def test_run_proxy_headers_ignored_from_untrusted_peers(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    port = free_port()
    with barq_run(
        tmp_path, "--port", str(port), "--proxy-headers", "--forwarded-allow-ips", "10.0.0.1"
    ) as proc:
        wait_for_port(port, proc)
        _, body = request(port, headers={"X-Forwarded-For": "6.6.6.6"})
        assert json.loads(body)["client"] == "127.0.0.1"


def test_run_port_in_use(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli(tmp_path, "run", "--port", str(busy.getsockname()[1]))
    assert result.returncode == 1
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_app_that_cannot_be_imported(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import not_a_real_module_xyz\napp = None\n")
    result = run_cli(tmp_path, "run", "broken:app")
    assert result.returncode == 1
    assert "not_a_real_module_xyz" in result.stderr
    assert "--verbose" in result.stderr and "Traceback" not in result.stderr
    verbose = run_cli(tmp_path, "run", "broken:app", "--verbose")
    assert verbose.returncode == 1 and "broken.py" in verbose.stderr

    missing = run_cli(tmp_path, "run", "nosuchmodule:app")
    assert missing.returncode == 1 and "cannot import module 'nosuchmodule'" in missing.stderr
    (tmp_path / "other.py").write_text("x = 1\n")
    no_attr = run_cli(tmp_path, "run", "other:app")
    assert no_attr.returncode == 1 and "has no attribute 'app'" in no_attr.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "http"], {}, "Invalid value for '--port'"),
        ([], {"BARQ_THREADS": "many"}, "BARQ_THREADS"),
        (["--header-timeout", "-1"], {}, "--header-timeout"),
        (["--stats", "nonsense"], {}, "--stats"),
        (["--proxy-headers", "--forwarded-allow-ips", "not-an-ip"], {}, "forwarded-allow-ips"),
        (["--event-backend", "iocp"], {}, "event_backend must be one of auto, epoll"),
        ([], {"BARQ_EVENT_BACKEND": "kqeue"}, "BARQ_EVENT_BACKEND"),
    ],
)
def test_run_bad_option_values(tmp_path: Path, args: list[str], env: dict, message: str) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    result = run_cli(tmp_path, "run", *args, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_run_bad_tool_barq_value(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    (tmp_path / "pyproject.toml").write_text('[tool.barq]\nport = "eighty"\n')
    result = run_cli(tmp_path, "run")
    assert result.returncode == 1
    assert "[tool.barq] port" in result.stderr and "expected an integer" in result.stderr


@pytest.mark.parametrize("command", ["run", "dev"])
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("threads = 0", "threads must be at least 1"),
        ("max_body_bytes = -5", "max_body_bytes must not be negative"),
        ("port = 99999", "port must be between 0 and 65535"),
    ],
)
def test_out_of_range_config_values_name_their_file(
    tmp_path: Path, command: str, line: str, message: str
) -> None:
    """A value from [tool.barq] is reported as coming from there (not as a
    command-line flag), and `barq dev` says so itself instead of its child
    failing with a traceback."""
    (tmp_path / "main.py").write_text(ECHO_APP)
    (tmp_path / "pyproject.toml").write_text(f"[tool.barq]\n{line}\n")
    result = run_cli(tmp_path, command)
    flat = " ".join(result.stderr.split())
    assert result.returncode == 1, result.stderr
    key = line.split()[0]
    assert f"[tool.barq] {key} in {tmp_path / 'pyproject.toml'}: {message}" in flat
    assert "Traceback" not in result.stderr + result.stdout
    # The same value on the command line is named as the flag.
    flag = "--" + key.replace("_", "-")
    (tmp_path / "pyproject.toml").unlink()
    value = line.split(" = ")[1]
    result = run_cli(tmp_path, command, f"{flag}={value}")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout


# -- barq routes -----------------------------------------------------------------------


def test_routes_table(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "new", "shop", "--template", "api").returncode == 0
    result = run_cli(tmp_path / "shop", "routes")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for method, path, handler in [
        ("GET", "/items", "app.main:list_items"),
        ("POST", "/items", "app.main:create_item"),
        ("DELETE", "/items/{item_id}", "app.main:delete_item"),
    ]:
        assert re.search(rf"{method}\s+│\s+{re.escape(path)}\s+│\s+{handler}", out), out
    assert "item_id: int [path]" in out
    assert "limit: int = 20 [query]" in out
    assert "data: ItemIn [body]" in out
    assert "Depends(get_store)" in out


def test_routes_lists_websocket_endpoints_as_ws(tmp_path: Path) -> None:
    (tmp_path / "chat.py").write_text(
        "from barq import Barq, Query, WebSocket\n"
        "app = Barq()\n"
        "@app.websocket('/rooms/{room}')\n"
        "async def room(ws: WebSocket, room: str, token: str = Query('')):\n"
        "    await ws.accept()\n"
    )
    result = run_cli(tmp_path, "routes", "chat:app")
    assert result.returncode == 0, result.stderr
    assert re.search(r"WS\s+│\s+/rooms/\{room\}\s+│\s+chat:room", result.stdout), result.stdout
    assert "room: str [path]" in result.stdout and "[query]" in result.stdout


def test_routes_rejects_a_plain_callable(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    result = run_cli(tmp_path, "routes")
    assert result.returncode == 1
    assert "not a Barq application" in result.stderr


# -- units: proxy headers, settings, discovery, watching -------------------------------


def _request(client: tuple[str, int] | None, headers: list[tuple[str, str]]) -> HTTPRequest:
    return HTTPRequest("GET", "/", "/", "", "1.1", headers, client=client)


def _seen(app: ProxyHeadersApp, request: HTTPRequest) -> tuple[object, str]:
    app(request)
    return request.client, request.scheme


def test_proxy_headers_trust_rules() -> None:
    def inner(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(200)

    app = ProxyHeadersApp(inner, "127.0.0.1, 10.0.0.0/8")
    fwd = [("x-forwarded-for", "198.51.100.1, 10.1.2.3"), ("x-forwarded-proto", "https")]
    # Trusted peer: the right-most untrusted hop is the client.
    assert _seen(app, _request(("127.0.0.1", 5000), fwd)) == (("198.51.100.1", 0), "https")
    # Untrusted peer: nothing changes, whatever it claims.
    assert _seen(app, _request(("192.0.2.9", 5000), fwd)) == (("192.0.2.9", 5000), "http")
    # A spoofed left-most entry does not win over an untrusted hop to its right.
    spoof = [("x-forwarded-for", "1.1.1.1, 198.51.100.1")]
    assert _seen(app, _request(("10.0.0.5", 1), spoof))[0] == ("198.51.100.1", 0)
    # Nonsense proto is ignored; Unix sockets are trusted only when listed.
    assert _seen(app, _request(("127.0.0.1", 1), [("x-forwarded-proto", "gopher")]))[1] == "http"
    assert _seen(app, _request(None, fwd)) == (None, "http")
    assert TrustedProxies("unix").trusts(None) and TrustedProxies("*").trusts("8.8.8.8")
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies("proxy.example.com")


def test_tool_config_precedence(tmp_path: Path) -> None:
    from barq_cli.config import as_int

    tool = ToolConfig(root=tmp_path, path=tmp_path / "pyproject.toml", values={"port": 9000})
    assert tool.pick("port", None, 8000, as_int) == 9000
    assert tool.pick("port", 7000, 8000, as_int) == 7000
    assert tool.pick("threads", None, 4, as_int) == 4


def test_discovery_order_and_layouts(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "main.py").write_text("from barq import Barq\napp = Barq()\n")
    spec = resolve_app(None, None, tmp_path)
    assert (spec.module, spec.attribute, spec.app_dir) == ("app.main", "app", tmp_path)
    (tmp_path / "main.py").write_text("print('no app here')\n")
    assert resolve_app(None, None, tmp_path).module == "app.main"  # main.py has no `app`
    (tmp_path / "main.py").write_text("def app(request): ...\n")
    assert resolve_app(None, None, tmp_path).module == "main"
    assert resolve_app(None, "pkg.web:api", tmp_path).import_string == "pkg.web:api"
    by_file = resolve_app("app/main.py:app", None, tmp_path)
    assert (by_file.module, by_file.app_dir) == ("app.main", tmp_path)

    src = tmp_path / "other" / "src" / "shop"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "main.py").write_text("app = object()\n")
    spec = resolve_app(None, None, tmp_path / "other")
    assert (spec.module, spec.app_dir) == ("shop.main", tmp_path / "other" / "src")
    with pytest.raises(DiscoveryError) as info:
        resolve_app(None, None, tmp_path / "other" / "src")
    assert any("main.py" in item for item in info.value.looked_for)
    with pytest.raises(DiscoveryError, match="no such file"):
        resolve_app("missing.py", None, tmp_path)
    with pytest.raises(DiscoveryError, match="MODULE:ATTRIBUTE"):
        resolve_app("app.main:", None, tmp_path)


def test_change_filter(tmp_path: Path) -> None:
    f = ChangeFilter([tmp_path], includes=["*.html"], excludes=["migrations", "*_test.py"])
    assert f(None, str(tmp_path / "app" / "main.py"))
    assert f(None, str(tmp_path / "templates" / "index.html"))
    assert not f(None, str(tmp_path / "README.md"))
    assert not f(None, str(tmp_path / ".venv" / "lib" / "x.py"))
    assert not f(None, str(tmp_path / "node_modules" / "a" / "b.py"))
    assert not f(None, str(tmp_path / "app" / "__pycache__" / "main.cpython-311.pyc"))
    assert not f(None, str(tmp_path / "build" / "lib" / "x.py"))
    assert not f(None, str(tmp_path / "app" / "migrations" / "0001.py"))
    assert not f(None, str(tmp_path / "app" / "main_test.py"))
    assert not f(None, str(tmp_path / "app" / ".#main.py"))


def test_change_filter_matches_paths_reported_through_a_symlink(tmp_path: Path) -> None:
    """macOS reports a project under /tmp as /tmp/... or /private/tmp/... (a
    symlink): a change is judged relative to the project either way, so a project
    that lives under a folder named like an ignored one (build/) still reloads."""
    real = tmp_path / "real"
    project = real / "build" / "proj"
    (project / "app").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    f = ChangeFilter([link / "build" / "proj"])  # roots are resolved: real/build/proj
    assert f(None, str(link / "build" / "proj" / "app" / "main.py"))  # reported unresolved
    assert f(None, str(project / "app" / "main.py"))
    assert not f(None, str(link / "build" / "proj" / ".venv" / "x.py"))


def test_every_server_limit_is_a_run_option_generated_from_server_config() -> None:
    """Each ServerConfig field marked for the CLI is an option of `barq run`, with the
    field's type and its help text, env name and default in `--help`."""
    import inspect
    import typing
    from dataclasses import fields

    from typer.testing import CliRunner

    from barq.server.config import ServerConfig, cli_fields
    from barq_cli.main import app as cli_app

    command = next(c for c in cli_app.registered_commands if c.name == "run")
    assert command.callback is not None
    hints = typing.get_type_hints(command.callback, include_extras=True)
    config_types = typing.get_type_hints(ServerConfig)
    generated = [f.name for f in cli_fields()]
    assert generated, "no ServerConfig field is marked for the command line"
    assert {f.name for f in fields(ServerConfig)} >= set(generated)
    for name in generated:
        annotation = hints[name]
        assert typing.get_args(annotation)[0] == config_types[name] | None, name
        assert inspect.signature(command.callback).parameters[name].default is None
    result = CliRunner().invoke(cli_app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for f in cli_fields():
        assert "--" + f.name.replace("_", "-") in result.output
        assert f.metadata["help"].split(";")[0][:30] in result.output


def test_two_projects_in_one_environment_each_serve_their_own_app(tmp_path: Path) -> None:
    """The quickstart's flow: `barq new hello`, `barq new shop -t api`, both installed
    editable (each project's directory on sys.path, hello's first). In shop/,
    `barq routes` and `barq run` load shop's app, not hello's."""
    assert run_cli(tmp_path, "new", "hello").returncode == 0
    assert run_cli(tmp_path, "new", "shop", "--template", "api").returncode == 0
    barq = Path(sys.executable).parent / "barq"  # sys.path[0] is bin/, not the project
    env = _env(PYTHONPATH=os.pathsep.join([str(tmp_path / "hello"), str(tmp_path / "shop")]))
    routes = subprocess.run(
        [str(barq), "routes"], cwd=tmp_path / "shop", env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert routes.returncode == 0, routes.stderr
    assert "/items/{item_id}" in routes.stdout, routes.stdout
    port = free_port()
    proc = subprocess.Popen(
        [str(barq), "run", "--port", str(port)], cwd=tmp_path / "shop", env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        status, body = None, b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/items")
                response = conn.getresponse()
                status, body = response.status, response.read()
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200, body
        assert json.loads(body) == [] or isinstance(json.loads(body), list | dict)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)


def test_import_app_refuses_a_same_named_module_from_elsewhere(tmp_path: Path) -> None:
    """If a module of the app's name was already imported from another place, the
    import serves the wrong code: say so instead."""
    from barq_cli.discovery import AppImportError, AppSpec, import_app

    (tmp_path / "one" / "webapp").mkdir(parents=True)
    (tmp_path / "two" / "webapp").mkdir(parents=True)
    for name in ("one", "two"):
        (tmp_path / name / "webapp" / "__init__.py").write_text("")
        (tmp_path / name / "webapp" / "main.py").write_text(f"app = lambda r: {name!r}\n")
    sys.path.insert(0, str(tmp_path / "one"))
    try:
        import webapp.main  # type: ignore[import-not-found]  # noqa: F401

        spec = AppSpec(
            "webapp.main", "app", tmp_path / "two", "test", tmp_path / "two" / "webapp" / "main.py"
        )
        with pytest.raises(AppImportError, match="already imported from elsewhere"):
            import_app(spec)
    finally:
        sys.path.remove(str(tmp_path / "one"))
        for name in [m for m in sys.modules if m == "webapp" or m.startswith("webapp.")]:
            del sys.modules[name]


def test_unknown_tool_barq_keys_warn_with_the_likely_key(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(ECHO_APP)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.barq]\nmax_body_byte = 10\nthreds = 4\nport = 8123\nwhatever = 1\n"
    )
    result = run_cli(tmp_path, "routes")  # any command reads the table
    flat = " ".join(result.stderr.split())
    pyproject = str(tmp_path / "pyproject.toml")
    assert f"unknown key max_body_byte in [tool.barq] of {pyproject}" in flat
    assert "did you mean max_body_bytes?" in flat
    assert "unknown key threds" in flat and "did you mean threads?" in flat
    assert "unknown key whatever" in flat
    assert "unknown key port" not in flat
