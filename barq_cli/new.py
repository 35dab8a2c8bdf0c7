"""``barq new``: scaffold a project from a template."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from barq import __version__
from barq_cli.helpformat import HelpCommand
from barq_cli.options import option
from barq_cli.scaffold import (
    InvalidProjectName,
    available_templates,
    render_template,
    template_paths,
    validate_project_name,
)

__all__ = ["create_project", "register"]


def _minimum_barq_version() -> str:
    """The ``barq>=`` bound for generated projects: this release, without local parts."""
    return __version__.split("+")[0].split(".dev")[0]


def create_project(
    name: str, template: str, parent: Path, *, force: bool = False, console: Console
) -> Path:
    """Render ``template`` into ``parent / name``; exits with code 1 on a user error."""
    try:
        validate_project_name(name)
    except InvalidProjectName as exc:
        console.print(
            f"[red]Error:[/] cannot create a project named [bold]{escape(name)}[/]: "
            f"{escape(exc.reason)}."
        )
        if exc.suggestion:
            console.print(f"Try: [bold]barq new {escape(exc.suggestion)}[/]")
        raise typer.Exit(1)

    templates = available_templates()
    if template not in templates:
        console.print(
            f"[red]Error:[/] unknown template [bold]{escape(template)}[/]; "
            f"choose one of: {', '.join(templates)}."
        )
        raise typer.Exit(1)

    destination = parent / name
    if destination.exists() and not destination.is_dir():
        console.print(f"[red]Error:[/] {escape(str(destination))} exists and is not a directory.")
        raise typer.Exit(1)
    if destination.is_dir() and any(destination.iterdir()) and not force:
        clashes = [p for p in template_paths(template) if (destination / p).exists()]
        console.print(
            f"[red]Error:[/] the directory [bold]{escape(str(destination))}[/] "
            "already exists and is not empty."
        )
        if clashes:
            listed = ", ".join(str(p) for p in clashes[:5]) + (" …" if len(clashes) > 5 else "")
            console.print(f"These files would be overwritten: {escape(listed)}")
        console.print(
            "Choose another name, or pass [bold]--force[/] to write the template "
            "files into it (other files are left alone)."
        )
        raise typer.Exit(1)

    context = {"project_name": name, "barq_version": _minimum_barq_version()}
    result = render_template(template, destination, context, replace=force)

    console.print(
        f"[green]✔[/] Created [bold]{escape(name)}[/] from the "
        f"[bold]{template}[/] template ({_files(len(result.created))})."
    )
    if result.overwritten:
        console.print(
            f"  [yellow]overwrote {_files(len(result.overwritten))} of an earlier "
            "template[/]; other files were left alone."
        )
    if result.removed:
        listed = ", ".join(str(p.relative_to(destination)) for p in result.removed)
        console.print(f"  removed the previous template's unchanged files: {escape(listed)}")
    if result.kept:
        listed = ", ".join(str(p.relative_to(destination)) for p in result.kept)
        console.print(
            f"  [yellow]kept {escape(listed)}[/]: from the previous template but edited "
            "since; delete what this template does not use."
        )
    # One command per line and never wrapped (soft_wrap): long paths stay copyable.
    console.print("\n[bold]Next steps:[/]")
    for step, note in next_steps(name):
        console.print(
            f"  [bold cyan]{escape(step)}[/]{'  [dim]# ' + note + '[/]' if note else ''}",
            soft_wrap=True,
        )
    return destination


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _on_path(name: str) -> bool:
    """Whether ``name`` on PATH is this interpreter's own (same ``bin`` directory)."""
    found = shutil.which(name)
    here = Path(sys.executable).parent.resolve()
    return found is not None and Path(found).parent.resolve() == here


def next_steps(name: str) -> list[tuple[str, str]]:
    """The commands that take a new project to a running server and passing tests,
    written for the environment ``barq new`` runs in: inside a virtual
    environment the project is installed into it; otherwise into a new one that
    still sees this interpreter's packages (Barq among them)."""
    python = "python" if _on_path("python") else shlex.quote(sys.executable)
    steps = [(f"cd {shlex.quote(name)}", "")]
    if sys.prefix != sys.base_prefix:  # a virtual environment: install into it
        steps.append((f"{python} -m pip install -e '.[test]'", "the project, editable"))
        barq = "barq" if _on_path("barq") else f"{python} -m barq_cli"
        pytest = f"{python} -m pytest"
    else:
        steps.append((f"{python} -m venv --system-site-packages .venv", "sees Barq from here"))
        steps.append((". .venv/bin/activate && pip install -e '.[test]'", ""))
        barq, pytest = "barq", "pytest"
    steps.append((f"{barq} dev", "http://127.0.0.1:8000, reloads on save"))
    steps.append((pytest, "run the generated tests"))
    return steps


def register(app: typer.Typer) -> None:
    """Add the ``new`` command to the CLI."""

    @app.command("new", cls=HelpCommand)
    def new(
        name: str = typer.Argument(
            ..., metavar="NAME", help="Project (and directory) name, e.g. my-shop."
        ),
        template: str = option(
            "--template", "-t", default="minimal", metavar="NAME", shown="minimal",
            help="Project template: minimal or api.",
        ),
        force: bool = option(
            "--force", default=False,
            help="Write into an existing non-empty directory (only template files are "
            "overwritten; nothing is deleted).",
        ),
    ) -> None:  # fmt: skip
        """Create a new Barq project from a template."""
        create_project(name, template, Path.cwd(), force=force, console=Console(highlight=False))
