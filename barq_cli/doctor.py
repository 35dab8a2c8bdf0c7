"""``barq doctor``: does anything this project imports turn the GIL back on?

On a free-threaded interpreter, each of the project's dependencies (its
``[project] dependencies`` and everything they require, plus Barq's own) is
imported in a fresh process, and so is the application itself; an import that
re-enables the GIL is named with the extension module responsible and what to do.
Exit status 1 when something re-enables the GIL, 0 otherwise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from barq_cli.common import err_console, load_config, out_console
from barq_cli.helpformat import HelpCommand

__all__ = ["ImportCheck", "check_import", "project_modules", "register"]

_PROBE = r"""
import importlib, json, re, sys, warnings
found = []
warnings.simplefilter("always")
def show(message, *args, **kwargs):
    m = re.search(r"has been enabled to load module '([^']+)'", str(message))
    if m:
        found.append(m.group(1))
warnings.showwarning = show
error = None
try:
    {load}
except BaseException as exc:
    error = f"{{type(exc).__name__}}: {{exc}}"[:300]
print(json.dumps({{"gil": sys._is_gil_enabled(), "culprits": found, "error": error}}))
"""


@dataclass(frozen=True)
class ImportCheck:
    """What importing one module did to the GIL."""

    module: str
    distribution: str
    gil: bool
    culprits: tuple[str, ...]
    error: str | None


def check_import(module: str, distribution: str = "", *, code: str | None = None) -> ImportCheck:
    """Import ``module`` (or run ``code``) in a fresh interpreter; report the GIL."""
    load = code or f"importlib.import_module({module!r})"
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE.format(load=load)],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return ImportCheck(module, distribution, False, (), f"the check itself failed: {exc}")
    return ImportCheck(
        module, distribution, bool(data["gil"]), tuple(data["culprits"]), data["error"]
    )


def _requirement_name(spec: str) -> str | None:
    """The distribution a ``Requires-Dist`` entry names, unless only for an extra."""
    if "extra ==" in spec or "extra==" in spec:
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    return match.group(1) if match else None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_modules(root: Path) -> list[tuple[str, str]]:
    """``(top-level module, distribution)`` for the project's dependencies, Barq's
    and everything they require (installed ones only), sorted."""
    wanted: list[str] = ["barq"]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text())
            for spec in data.get("project", {}).get("dependencies", []):
                name = _requirement_name(str(spec))
                if name:
                    wanted.append(name)
        except (OSError, tomllib.TOMLDecodeError):
            pass
    seen: set[str] = set()
    dists: dict[str, metadata.Distribution] = {}
    while wanted:
        name = _normal(wanted.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        dists[name] = dist
        for spec in dist.requires or []:
            requirement = _requirement_name(spec)
            if requirement:
                wanted.append(requirement)
    by_dist: dict[str, list[str]] = {}
    for module, owners in metadata.packages_distributions().items():
        for owner in owners:
            by_dist.setdefault(_normal(owner), []).append(module)
    modules = [("barq", "barq")]
    for name, dist in dists.items():
        for module in sorted(by_dist.get(name, [])):
            if module.isidentifier() and not module.startswith("_"):
                modules.append((module, dist.metadata["Name"] or name))
    return sorted(set(modules))


def register(app: typer.Typer) -> None:
    """Add the ``doctor`` command to the CLI."""

    @app.command("doctor", cls=HelpCommand)
    def doctor(
        app_path: str | None = typer.Argument(
            None, metavar="APP", envvar="BARQ_APP", show_default=False, show_envvar=False,
            help="The application to import too. Default: \\[tool.barq] app, then discovery.",
        ),
    ) -> None:  # fmt: skip
        """Check that nothing the project imports turns the GIL back on.

        Imports each dependency, then the app, in a fresh free-threaded process
        and names any extension module that re-enables the GIL.
        """
        from barq.runtime import describe_interpreter, free_threaded_build

        console = out_console()
        console.print(f"Python: {escape(describe_interpreter())} ({escape(sys.executable)})")
        console.print(f"Event backend: {escape(_event_backend())}")
        if not free_threaded_build():
            console.print(
                "This interpreter has a GIL: handlers share one core for Python code. Run "
                "[bold]barq doctor[/] with a free-threaded one (python3.14t or python3.13t) "
                "to check the project's dependencies."
            )
            raise typer.Exit(0)
        tool = load_config()
        modules = project_modules(tool.root)
        with ThreadPoolExecutor(max_workers=4) as pool:
            checks = list(pool.map(lambda item: check_import(*item), modules))
        app_check = _check_app(app_path, tool)
        if app_check is not None:
            checks.append(app_check)
        table = Table(title="Imports and the GIL", title_justify="left")
        table.add_column("module", no_wrap=True)
        table.add_column("distribution")
        table.add_column("result")
        bad = []
        for check in checks:
            if check.error and not check.gil:
                result = f"[yellow]import failed[/]: {escape(check.error)}"
            elif check.gil:
                bad.append(check)
                culprits = ", ".join(check.culprits) or "an extension module"
                result = f"[bold red]re-enables the GIL[/] ({escape(culprits)})"
            else:
                result = "[green]keeps the GIL off[/]"
            table.add_row(escape(check.module), escape(check.distribution), result)
        console.print(table)
        if not bad:
            console.print("[green]✔ Nothing re-enables the GIL:[/] handlers run in parallel.")
            raise typer.Exit(0)
        names = ", ".join(sorted({c for check in bad for c in check.culprits})) or "an import"
        err_console().print(
            f"[bold red]✘ The GIL is re-enabled by {escape(names)}.[/] "
            "Upgrade those packages to releases with free-threaded (cp313t/cp314t) wheels, "
            "or replace them; PYTHON_GIL=0 forces the GIL off at your own risk (the "
            "extension may not be thread-safe)."
        )
        raise typer.Exit(1)


def _event_backend() -> str:
    """What the server would watch sockets with here, or why it could not."""
    from barq.server.events import make_backend

    try:
        return make_backend("auto").detail
    except ValueError as exc:
        return str(exc)


def _check_app(app_path: str | None, tool: object) -> ImportCheck | None:
    from barq_cli.config import ToolConfig, as_str
    from barq_cli.discovery import DiscoveryError, resolve_app

    assert isinstance(tool, ToolConfig)
    try:
        spec = resolve_app(app_path, tool.get("app", as_str), tool.root)
    except DiscoveryError:
        return None
    code = f"sys.path.insert(0, {str(spec.app_dir)!r}); importlib.import_module({spec.module!r})"
    return check_import(spec.module, "(your app)", code=code)
