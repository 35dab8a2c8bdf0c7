"""`barq run` (being built; see docs/architecture.md)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `run` command to the CLI (not implemented yet)."""
