"""``barq new``: scaffold a project from a template."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

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
    result = render_template(template, destination, context)

    console.print(
        f"[green]✔[/] Created [bold]{escape(name)}[/] from the "
        f"[bold]{template}[/] template ({len(result.created)} files)."
    )
    if result.overwritten:
        console.print(
            f"  [yellow]overwrote {len(result.overwritten)} existing template "
            "file(s)[/]; other files were left alone."
        )
    steps = "\n".join(
        [
            f"[bold]cd {escape(name)}[/]",
            "[bold]python -m venv .venv && . .venv/bin/activate[/]",
            "[bold]" + escape("pip install -e '.[test]'") + "[/]",
            "[bold]barq dev[/]      [dim]# http://127.0.0.1:8000, reloads on save[/]",
            "[bold]pytest[/]        [dim]# run the generated tests[/]",
        ]
    )
    console.print(Panel(steps, title="Next steps", title_align="left", expand=False))
    return destination


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
