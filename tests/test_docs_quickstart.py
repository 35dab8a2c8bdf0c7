"""Follow docs/quickstart.md with the real CLI: new → dev → curl → edit → reload → pytest → stats.

The commands, the edit and the expected outputs are read from the page itself,
so the quickstart cannot drift from what Barq does. The only liberties: a free
port instead of 8000 (``--port``), and ``pip install -e .`` is skipped (the
project is used from its directory, as the template's pytest config allows).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "quickstart.md"
CLI = [sys.executable, "-m", "barq_cli"]

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="barq dev needs Linux"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="the quickstart uses curl"),
]


def env() -> dict[str, str]:
    result = dict(os.environ, NO_COLOR="1", COLUMNS="200", PYTHONDONTWRITEBYTECODE="1")
    result.pop("BARQ_APP", None)
    result["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), result.get("PYTHONPATH")]))
    return result


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sections() -> list[tuple[str, str]]:
    """(heading, text) for each ``##`` section of the page."""
    parts = re.split(r"^## ", PAGE.read_text(), flags=re.M)[1:]
    return [(p.split("\n", 1)[0], p) for p in parts]


def curl_examples(text: str) -> list[tuple[str, str]]:
    """``$ curl ...`` lines of console blocks with the output line after each."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ curl ") and i + 1 < len(lines):
                found.append((line[2:], lines[i + 1]))
    return found


def run_curl(command: str, port: int) -> str:
    args = shlex.split(command.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    result = subprocess.run([*args, "-sS", "--max-time", "5"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart(tmp_path: Path) -> None:
    steps = dict(sections())
    create = next(text for heading, text in steps.items() if heading.startswith("1."))
    assert "barq new hello" in create
    subprocess.run(
        [*CLI, "new", "hello"], cwd=tmp_path, env=env(), check=True, capture_output=True, timeout=30
    )
    project = tmp_path / "hello"
    assert (project / "app" / "main.py").is_file()

    serve = next(text for heading, text in steps.items() if heading.startswith("2."))
    assert "barq dev" in serve
    port = free_port()
    dev = subprocess.Popen(
        [*CLI, "dev", "--port", str(port)],
        cwd=project, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(dev.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while f"http://127.0.0.1:{port}" not in "".join(output):
            assert dev.poll() is None, "".join(output)
            assert time.monotonic() < deadline, "barq dev did not start:\n" + "".join(output)
            time.sleep(0.1)
        examples = curl_examples(serve)
        assert len(examples) == 3
        for command, expected in examples:
            assert run_curl(command, port) == expected, command

        # 3. the edit shown on the page, applied to the generated app
        edit = next(text for heading, text in steps.items() if heading.startswith("3."))
        (new_index,) = re.findall(r"```python\n(.*?)```", edit, re.S)
        main = project / "app" / "main.py"
        source = main.read_text()
        old_index = re.search(r'@app\.get\("/"\)\ndef index\(\).*?\n\n', source, re.S)
        assert old_index is not None, "the template's index handler changed; update the page"
        main.write_text(source.replace(old_index.group(0), new_index + "\n\n"))
        ((command, expected),) = curl_examples(edit)
        deadline = time.monotonic() + 30
        while run_curl(command, port) != expected:
            assert time.monotonic() < deadline, "no reload:\n" + "".join(output)
            time.sleep(0.2)
        assert "changed; reloading" in "".join(output)

        # 4. the tests, with the expectation updated as the page says
        tests = project / "tests" / "test_main.py"
        tests.write_text(tests.read_text().replace("Hello from hello", "Hi from hello"))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=project, env=env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr

        # 5. observe it: `barq stats` finds the dev server without arguments
        for _ in range(3):
            run_curl(command, port)
        stats = subprocess.run(
            [*CLI, "stats", "--once", "--json"],
            cwd=project, env=env(), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        document = json.loads(stats.stdout)
        ours = [
            t
            for t in document["targets"]
            if t["ok"] and ["127.0.0.1", port] in t["snapshot"]["server"]["addresses"]
        ]
        assert len(ours) == 1, stats.stdout
        assert ours[0]["snapshot"]["totals"]["requests"] >= 1
        routes = subprocess.run(
            [*CLI, "routes"], cwd=project, env=env(), capture_output=True, text=True, timeout=30
        )
        assert routes.returncode == 0, routes.stderr
        assert "/hello/{name}" in routes.stdout
    finally:
        if dev.poll() is None:
            dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=15)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait()
        reader.join(timeout=5)
    with contextlib.suppress(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        pytest.fail("barq dev still answers after Ctrl+C")
