"""``barq new``: the real CLI in a subprocess, then the generated project's own tests
and ``barq dev`` inside it (what ``make demo`` does)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "barq_cli"]


def barq(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("template", ["minimal", "api"])
def test_generated_project_tests_pass(tmp_path: Path, template: str) -> None:
    result = barq("new", "shop-api", "--template", template, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Next steps" in result.stdout
    assert re.search(r"(barq|-m barq_cli) dev", result.stdout), result.stdout
    assert "pip install -e '.[test]'" in result.stdout
    project = tmp_path / "shop-api"
    for name in ("pyproject.toml", "README.md", ".gitignore", "app/__init__.py", "app/main.py"):
        assert (project / name).is_file(), name
    assert list((project / "tests").glob("test_*.py"))
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "shop-api"
    assert any(dep.startswith("barq") for dep in meta["project"]["dependencies"])
    assert meta["tool"]["barq"]["app"] == "app.main:app"
    assert "{{" not in (project / "app" / "main.py").read_text()
    assert "barq dev" in (project / "README.md").read_text()

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\d+ passed", tests.stdout)


def test_demo_flow_new_api_then_dev_without_arguments(tmp_path: Path) -> None:
    """`make demo`: barq new demo --template api, then `barq dev` inside ./demo."""
    assert barq("new", "demo", "--template", "api", cwd=tmp_path).returncode == 0
    project = tmp_path / "demo"
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    proc = subprocess.Popen(
        [*CLI, "dev", "--port", "0"], cwd=project, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = None
        output = []
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            match = re.search(r"Serving\s+http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
        assert port, "".join(output)
        app_line = proc.stdout.readline()  # the banner's next line names the app it found
        assert "app.main:app" in app_line and "[tool.barq]" in app_line, app_line

        def post(path: str, payload: dict) -> tuple[int, object]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", path, json.dumps(payload), {"content-type": "application/json"})
            response = conn.getresponse()
            status, body = response.status, json.loads(response.read())
            conn.close()
            return status, body

        status, item = post("/items", {"name": "lamp", "price": 12.5})
        assert status == 201 and item["name"] == "lamp"
        status, _ = post("/items", {"name": "", "price": -1})
        assert status == 422
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("my app", "my-app"), ("Shop!", "shop"), ("barq", "my-barq"), ("_x_", "x")],
)
def test_invalid_names_are_explained_with_a_suggestion(
    tmp_path: Path, name: str, suggestion: str
) -> None:
    result = barq("new", name, cwd=tmp_path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "cannot create a project" in output
    assert f"barq new {suggestion}" in output
    assert "Traceback" not in output
    assert list(tmp_path.iterdir()) == []


def test_accepts_dashes_dots_and_underscores(tmp_path: Path) -> None:
    for name in ("my-app", "my_app", "shop.api"):
        assert barq("new", name, cwd=tmp_path).returncode == 0
        assert (tmp_path / name / "app" / "main.py").is_file()


def test_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    project = tmp_path / "site"
    project.mkdir()
    (project / "notes.txt").write_text("keep me")
    (project / "README.md").write_text("old readme")
    result = barq("new", "site", cwd=tmp_path)
    assert result.returncode == 1
    assert "already exists and is not empty" in result.stdout + result.stderr
    assert "--force" in result.stdout + result.stderr
    assert (project / "README.md").read_text() == "old readme"
    assert not (project / "app").exists()

    result = barq("new", "site", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (project / "notes.txt").read_text() == "keep me"  # never deleted or touched
    assert "# site" in (project / "README.md").read_text()  # template file rewritten
    assert (project / "app" / "main.py").is_file()


def test_an_empty_existing_directory_is_fine(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert barq("new", "empty", cwd=tmp_path).returncode == 0


def test_unknown_template(tmp_path: Path) -> None:
    result = barq("new", "x1", "--template", "nope", cwd=tmp_path)
    assert result.returncode == 1
    assert "minimal" in result.stdout and "api" in result.stdout
    assert not (tmp_path / "x1").exists()


def test_templates_are_found_in_a_wheel_layout(tmp_path: Path, monkeypatch) -> None:
    """In a wheel the templates sit in barq_cli/templates/, next to the package."""
    import barq_cli.scaffold as scaffold

    fake_pkg = tmp_path / "site-packages" / "barq_cli"
    (fake_pkg / "templates" / "minimal").mkdir(parents=True)
    monkeypatch.setattr(scaffold, "__file__", str(fake_pkg / "scaffold.py"))
    assert scaffold.templates_root() == fake_pkg / "templates"
    assert scaffold.available_templates() == ["minimal"]


@pytest.mark.skipif(
    not sys.executable.startswith(str(Path(__file__).resolve().parent.parent / ".venv-ft")),
    reason="make demo installs into .venv-ft: checked from the free-threaded test run",
)
def test_make_demo_serves_with_the_gil_off_and_offline_docs(tmp_path: Path) -> None:
    """`make demo` as the README says: the free-threaded interpreter, GIL off, the docs
    pages' assets served by the demo itself (no CDN)."""
    root = Path(__file__).resolve().parent.parent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(
        os.environ, COLUMNS="200", NO_COLOR="1", PORT=str(port), DEMO_DIR=str(tmp_path / "demo")
    )
    env.pop("BARQ_DEMO_PYTHON", None)
    proc = subprocess.Popen(
        [str(root / "scripts" / "demo")], cwd=root, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        output: list[str] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Ctrl+C to stop" in line:
                break
        banner = "".join(output)
        assert f"http://127.0.0.1:{port}" in banner, banner
        assert "free-threaded" in banner and "GIL off" in banner, banner
        assert f"http://127.0.0.1:{port}/docs" in banner
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/docs")
        page = conn.getresponse().read().decode()
        assert "/docs/static/swagger-ui-bundle.js" in page and "cdn." not in page
        conn.request("GET", "/docs/static/swagger-ui-bundle.js")
        response = conn.getresponse()
        assert response.status == 200 and len(response.read()) > 100_000
        conn.request("GET", "/redoc")
        assert "/redoc/static/redoc.standalone.js" in conn.getresponse().read().decode()
        conn.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_force_onto_another_template_leaves_no_stale_failing_files(tmp_path: Path) -> None:
    """api, then minimal with --force: the api template's unchanged files go (its
    tests would fail against minimal's app); an edited one is kept and named."""
    assert barq("new", "shop", "--template", "api", cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"
    edited = project / "app" / "models.py"
    edited.write_text(edited.read_text() + "\n# my change\n")
    result = barq("new", "shop", "--template", "minimal", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (project / "tests" / "test_items.py").exists()
    assert not (project / "app" / "dependencies.py").exists()
    assert edited.exists() and "kept app/models.py" in " ".join(result.stdout.split())
    edited.unlink()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    # and back to api: the whole api template again, minimal's leftovers gone
    assert barq("new", "shop", "--template", "api", "--force", cwd=tmp_path).returncode == 0
    assert not (project / "tests" / "test_main.py").exists()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
