"""When a free-threaded build runs with the GIL re-enabled, Barq says which import
did it and what to do: at server start, in `barq dev`'s banner, and `barq doctor`.

A tiny C extension that does not declare free-threading support is compiled for
the test (it re-enables the GIL when imported, like orjson does today).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(
        not sysconfig.get_config_var("Py_GIL_DISABLED"),
        reason="needs a free-threaded (PEP 703) interpreter",
    ),
    pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler"),
]

CLI = [sys.executable, "-m", "barq_cli"]
EXTENSION = """
#include <Python.h>
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "gilly", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_gilly(void) { return PyModule_Create(&module); }
"""
APP = """
import gilly
from barq import Barq

app = Barq()


@app.get("/")
def root() -> dict:
    return {"ok": True}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    source = tmp_path / "gilly.c"
    source.write_text(EXTENSION)
    target = tmp_path / f"gilly{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    subprocess.run(
        ["cc", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(target)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (tmp_path / "main.py").write_text(APP)
    return tmp_path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARQ_") and k != "PYTHON_GIL"}
    return dict(env, COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1")


def test_doctor_names_the_extension_that_re_enables_the_gil(project: Path) -> None:
    result = subprocess.run(
        [*CLI, "doctor"], cwd=project, env=_env(), capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"main\s+│\s+\(your app\)\s+│\s+re-enables the GIL \(gilly\)", result.stdout)
    assert "pydantic" in result.stdout and "keeps the GIL off" in result.stdout
    flat = " ".join(result.stderr.split())
    assert "The GIL is re-enabled by gilly" in flat and "PYTHON_GIL=0" in flat


def test_doctor_is_happy_without_it(project: Path) -> None:
    (project / "main.py").write_text(APP.replace("import gilly\n", ""))
    result = subprocess.run(
        [*CLI, "doctor"], cwd=project, env=_env(), capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Nothing re-enables the GIL" in result.stdout


def test_barq_run_names_the_import_at_startup(project: Path) -> None:
    proc = subprocess.Popen(
        [*CLI, "run", "--port", "0"], cwd=project, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Barq serving on" in line or not line:
                break
        output = "".join(lines)
        assert "GIL is ENABLED: importing 'gilly' re-enabled it" in output, output
        assert "barq doctor" in output
    finally:
        proc.terminate()
        proc.wait(15)


def test_barq_dev_banner_names_the_import(project: Path) -> None:
    proc = subprocess.Popen(
        [*CLI, "dev", "--port", "0", "--stats", "off"], cwd=project, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl+C to stop" in line or not line:
                break
        banner = " ".join("".join(lines).replace("│", " ").split())
        assert "GIL ON: importing 'gilly' re-enabled it" in banner, banner
    finally:
        proc.terminate()
        proc.wait(15)
