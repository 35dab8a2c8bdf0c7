"""The documentation cannot silently rot.

- every page is in the MkDocs nav;
- code in the guide pages comes from ``docs/examples/`` (``--8<--`` includes),
  and every included file is exercised by a test;
- every ``barq`` command line shown in a page (and in the systemd unit) names
  commands and options that exist;
- the CLI reference is generated from the Typer app and covers all of it.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest
import typer.main

from barq_cli.main import app as cli_app
from tests.test_docs_examples import EXERCISED

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"

#: Pages exempt from the example-file rule (none: every page's Python is tested).
FOREIGN_PAGES: set[str] = set()
#: Example files exercised by other test modules: each named module must really
#: refer to the file (checked below), so the mapping cannot silently rot.
EXERCISED_ELSEWHERE = {
    "openapi_app.py": "tests/test_openapi.py",
    "async_handlers.py": "tests/test_framework_async.py",
    "forms_app.py": "tests/test_forms.py",
    "streaming_sse.py": "tests/test_streaming.py",
    "streaming_yield.py": "tests/test_fastapi_compat.py",
    "files_app.py": "tests/test_files.py",
    "metrics_stats_server.py": "tests/test_docs_more_examples.py",
    "metrics_hooks.py": "tests/test_docs_more_examples.py",
    "architecture_server.py": "tests/test_docs_more_examples.py",
    "websockets_chat.py": "tests/test_docs_more_examples.py",
    "streaming_upload.py": "tests/test_server_streaming_bodies.py",
}
#: Inline Python blocks allowed (and where they are tested instead).
INLINE_PYTHON = {"quickstart.md": "tests/test_docs_quickstart.py applies the edit"}
#: Included non-Python files and the tests that check them.
CHECKED_FILES = {
    "nginx.conf": "tests/test_docs_nginx.py runs nginx with it",
    "barq.service": "test_systemd_unit_command_line",
    "prometheus.yml": "test_prometheus_targets_match_the_unit",
}

FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.S | re.M
)
SNIPPET = re.compile(r'^\s*--8<--\s+"([^"]+)"\s*$')


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "examples" not in p.relative_to(DOCS).parts)


def own_pages() -> list[Path]:
    return [p for p in pages() if str(p.relative_to(DOCS)) not in FOREIGN_PAGES]


def fences(page: Path) -> list[tuple[str, str]]:
    return [(m["lang"], m["body"]) for m in FENCE.finditer(page.read_text())]


def nav_pages(nav: object) -> set[str]:
    found: set[str] = set()
    if isinstance(nav, str):
        found.add(nav)
    elif isinstance(nav, list):
        for item in nav:
            found |= nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            found |= nav_pages(value)
    return found


def test_every_page_is_in_the_nav() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    in_nav = nav_pages(config["nav"])
    on_disk = {str(p.relative_to(DOCS)) for p in pages()}
    assert on_disk - in_nav == set(), "pages missing from the nav in mkdocs.yml"
    assert in_nav - on_disk == set(), "nav entries without a page"
    assert "docs/hooks.py" in config["hooks"]


def test_code_in_own_pages_comes_from_tested_example_files() -> None:
    included: set[str] = set()
    for page in own_pages():
        name = str(page.relative_to(DOCS))
        for lang, body in fences(page):
            lines = [line for line in body.splitlines() if line.strip()]
            snippets = [SNIPPET.match(line) for line in lines]
            if lines and all(snippets):
                for match in snippets:
                    assert match is not None
                    target = match.group(1).split(":", 1)[0]
                    assert (EXAMPLES / target).is_file(), f"{name} includes missing {target}"
                    included.add(target)
            elif lang == "python":
                assert name in INLINE_PYTHON, (
                    f"{name} has an inline python block; put it in docs/examples/ and test it"
                )
    python = {f for f in included if f.endswith(".py")}
    exercised = EXERCISED | set(EXERCISED_ELSEWHERE)
    assert python - exercised == set(), "included examples that no test exercises"
    other = included - python
    assert other - set(CHECKED_FILES) == set(), "included files that no test checks"
    # and nothing tested is orphaned from the pages
    assert exercised - python == set(), "tested examples that no page shows"
    for example, test_file in EXERCISED_ELSEWHERE.items():
        assert example.removesuffix(".py") in (ROOT / test_file).read_text(), (
            f"{test_file} does not exercise {example}"
        )


def _flags(param: object) -> tuple[str, ...]:
    return (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ()))


def _cli_options() -> dict[str, set[str]]:
    root = typer.main.get_command(cli_app)
    ctx = root.context_class(root, info_name="barq")
    options = {
        "": {"--help"}
        | {o for p in root.params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
    }
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        assert command is not None
        options[name] = {"--help"} | {
            o for p in command.params if p.param_type_name == "option" for o in _flags(p)
        }
    return options


def check_command_line(line: str, where: str) -> None:
    words = shlex.split(line)
    assert words[0].endswith("barq"), line
    options = _cli_options()
    command = words[1] if len(words) > 1 and not words[1].startswith("-") else ""
    assert command in options, f"{where}: unknown command in {line!r}"
    for word in words[1:]:
        if word.startswith("-") and word != "-":
            flag = word.split("=", 1)[0]
            assert flag in options[command], f"{where}: barq {command} has no {flag} ({line!r})"


def test_barq_command_lines_in_pages_exist() -> None:
    checked = 0
    for page in pages():
        for lang, body in fences(page):
            if lang not in ("bash", "console", "sh", "shell"):
                continue
            for raw in body.splitlines():
                line = raw.strip()
                if lang == "console":  # only the commands, not their output
                    if not line.startswith("$ "):
                        continue
                    line = line.removeprefix("$ ")
                line = line.split(" #", 1)[0].strip()
                if line.startswith("barq ") or line == "barq":
                    check_command_line(line, str(page.relative_to(DOCS)))
                    checked += 1
    assert checked >= 10


def test_systemd_unit_command_line() -> None:
    unit = (EXAMPLES / "barq.service").read_text()
    (exec_start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    line = exec_start.removeprefix("ExecStart=").replace("%i", "1")
    check_command_line(line, "barq.service")
    words = shlex.split(line)
    assert words[words.index("--port") + 1] == "8001"
    assert words[words.index("--stats") + 1] == "127.0.0.1:9001"


def test_prometheus_targets_match_the_unit() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((EXAMPLES / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    targets = job["static_configs"][0]["targets"]
    assert targets == ["127.0.0.1:9001", "127.0.0.1:9002"]
    # The same ports the nginx page's instances use for --stats in the unit.
    assert "--stats 127.0.0.1:900%i" in (EXAMPLES / "barq.service").read_text()


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("barq_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_generated_from_the_typer_app() -> None:
    hooks = load_hooks()
    page = (DOCS / "cli-reference.md").read_text()
    assert hooks.MARKER in page
    reference = hooks.on_page_markdown(page)
    assert hooks.MARKER not in reference
    for command, flags in _cli_options().items():
        title = f"## `barq {command}`" if command else "## `barq`"
        assert title in reference
        section = reference.split(title, 1)[1].split("\n## ", 1)[0]
        for flag in flags:
            assert f"`{flag}`" in section, f"{flag} of barq {command} is not in the reference"
    # help texts come through without Rich markup or raw HTML-looking text
    assert "[bold]" not in reference
    assert "BARQ_&lt;OPTION&gt;" in reference
    assert "`barq run [OPTIONS] [APP]`" in reference or "barq run [OPTIONS] [APP]" in reference
    assert "**Limits and timeouts**" in reference
