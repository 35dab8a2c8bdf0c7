"""The package skeleton: entry points, the GIL staying off, wheel installs."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

import barq
import barq_cli

ROOT = Path(__file__).resolve().parent.parent
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
RUNTIME_DEPENDENCIES = ["pydantic", "pydantic_core", "typer", "rich", "watchfiles", "multipart"]


def _all_modules() -> list[str]:
    names = []
    for package in (barq, barq_cli):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            names.append(info.name)
    return names


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd=None):
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )


@pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded (PEP 703) interpreter")
def test_gil_stays_disabled_after_importing_everything() -> None:
    modules = RUNTIME_DEPENDENCIES + _all_modules()
    code = (
        "import importlib, sys\n"
        f"mods = {modules!r}\n"
        "for m in mods: importlib.import_module(m)\n"
        "bad = [m for m in ('orjson',) if m in sys.modules]\n"
        "print('GIL', sys._is_gil_enabled(), 'orjson-imported', bad)\n"
        "sys.exit(1 if sys._is_gil_enabled() or bad else 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    result = _run(sys.executable, "-c", code, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GIL False" in result.stdout
    assert len(modules) > 10  # really imported the whole package tree


@pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded (PEP 703) interpreter")
def test_server_start_warns_when_gil_was_reenabled() -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from barq.http.messages import HTTPResponse\n"
        "from barq.server import Server\n"
        "s = Server(lambda r: HTTPResponse(200), host='127.0.0.1', port=0, threads=1)\n"
        "s.start(); s.stop()\n"
    )
    forced = _run(sys.executable, "-c", code, env={**os.environ, "PYTHON_GIL": "1"})
    assert forced.returncode == 0, forced.stderr
    assert "GIL is ENABLED" in forced.stderr
    assert "GIL on" in forced.stderr
    normal = _run(sys.executable, "-c", code, env={**os.environ, "PYTHON_GIL": "0"})
    assert normal.returncode == 0, normal.stderr
    assert "GIL is ENABLED" not in normal.stderr
    assert "free-threaded, GIL off" in normal.stderr


def test_server_start_reports_interpreter() -> None:
    code = (
        "import logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from barq.http.messages import HTTPResponse\n"
        "from barq.server import Server\n"
        "s = Server(lambda r: HTTPResponse(200), host='127.0.0.1', port=0, threads=1)\n"
        "s.start(); s.stop()\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    expected = "free-threaded" if FREE_THREADED else "with GIL, GIL on"
    assert "Barq serving on http://127.0.0.1:" in result.stderr
    assert expected in result.stderr


def test_version_and_help() -> None:
    result = _run(sys.executable, "-m", "barq_cli", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"barq {barq.__version__} (")
    result = _run(sys.executable, "-m", "barq_cli", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("new", "dev", "run", "routes", "stats"):
        assert command in result.stdout
    script = Path(sys.executable).parent / "barq"  # the console script of this venv
    assert script.exists(), f"{script} missing: install the project into this environment"
    result = _run(str(script), "--version")
    assert result.returncode == 0, result.stderr
    assert barq.__version__ in result.stdout


def test_py_typed_shipped() -> None:
    assert (Path(barq.__file__).parent / "py.typed").exists()
    assert (Path(barq_cli.__file__).parent / "py.typed").exists()


def test_free_threaded_script_is_instant_when_cached() -> None:
    script = ROOT / "scripts" / "free-threaded-python"
    env = dict(os.environ)
    if FREE_THREADED:
        env["BARQ_FT_PYTHON"] = sys.executable
    else:
        env.pop("BARQ_FT_PYTHON", None)
        if not _cached_free_threaded():
            pytest.skip("no free-threaded interpreter on this machine yet")
    result = _run("bash", str(script), env=env, timeout=20)
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    check = _run(path, "-c", "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED'))")
    assert check.stdout.strip() == "1"
    # Asking for a non-free-threaded interpreter explicitly is an error, not a fallback.
    bad = _run("bash", str(script), env={**os.environ, "BARQ_FT_PYTHON": "/bin/true"})
    assert bad.returncode != 0 and "not a free-threaded" in bad.stderr


def _cached_free_threaded() -> bool:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return (cache / "barq" / "cpython-3.13t" / ".barq-build-complete").exists()


def test_wheel_install_gives_working_cli(tmp_path: Path) -> None:
    """`pip install` of the built wheel (not editable) gives a CLI that can scaffold."""
    wheel_dir = tmp_path / "wheel"
    build = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        str(wheel_dir),
        str(ROOT),
        timeout=300,
    )
    if build.returncode != 0 and "Could not find a version" in build.stderr:
        pytest.skip("no package index reachable to fetch the build backend")
    assert build.returncode == 0, build.stderr
    wheels = list(wheel_dir.glob("barq-*.whl"))
    assert len(wheels) == 1
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    args = [str(python), "-m", "pip", "install", "-q", str(wheels[0])]
    constraints = ROOT / "constraints-free-threaded.txt"
    if FREE_THREADED:
        args += ["-c", str(constraints)]
    install = _run(*args, timeout=600)
    assert install.returncode == 0, install.stderr
    barq_cmd = env_dir / "bin" / "barq"
    version = _run(str(barq_cmd), "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert barq.__version__ in version.stdout
    project = _run(str(barq_cmd), "new", "wheelapp", cwd=tmp_path, timeout=60)
    assert project.returncode == 0, project.stdout + project.stderr
    assert (tmp_path / "wheelapp" / "pyproject.toml").exists()
    # The installed package is the wheel's copy, with the templates inside it.
    code = "import barq_cli, os; print(os.path.dirname(barq_cli.__file__))"
    where = _run(str(python), "-c", code, cwd=tmp_path)
    assert (Path(where.stdout.strip()) / "templates").is_dir()
    _run_next_steps(project.stdout, tmp_path, env_dir)


def _run_next_steps(output: str, parent: Path, env_dir: Path) -> None:
    """Run `barq new`'s "Next steps" exactly as printed: install, tests, `barq dev` serves."""
    import re
    import signal
    import time

    block = output.split("Next steps:", 1)[1]
    steps = [line.split("  # ", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert steps[0].startswith("cd "), steps
    dev = [s for s in steps if s.endswith(" dev")]
    assert len(dev) == 1, steps
    setup = [s for s in steps if s not in dev]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BARQ_", "VIRTUAL_ENV"))}
    env.update(COLUMNS="200", NO_COLOR="1")
    shell = subprocess.run(
        ["bash", "-c", " && ".join(setup)], cwd=parent, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert shell.returncode == 0, shell.stdout[-3000:] + shell.stderr[-3000:]
    assert re.search(r"\d+ passed", shell.stdout), shell.stdout[-2000:]
    command = f"{steps[0]} && exec {dev[0]} --port 0"
    proc = subprocess.Popen(
        ["bash", "-c", command], cwd=parent, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "Serving" in line:
                break
        assert any("Serving" in line for line in seen), "".join(seen)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
