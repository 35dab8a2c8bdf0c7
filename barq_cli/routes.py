"""``barq routes``: a table of the application's routes."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from barq_cli.common import fail, load_config, locate_app, out_console
from barq_cli.helpformat import HelpCommand
from barq_cli.options import option

__all__ = ["RouteRow", "register", "route_rows"]

_LOCATION_ORDER = {"path": 0, "query": 1, "header": 2, "cookie": 3, "body": 4}


@dataclass(frozen=True)
class RouteRow:
    """One line of the routes table."""

    methods: str
    path: str
    handler: str
    parameters: list[str]


def _type_name(tp: Any) -> str:
    if tp is inspect.Parameter.empty or tp is None:
        return "Any" if tp is inspect.Parameter.empty else "None"
    if isinstance(tp, type) and not getattr(tp, "__args__", None):
        return tp.__name__
    text = str(tp)
    text = re.sub(r"\btyping\.", "", text)
    text = re.sub(r"<class '([\w.]+)'>", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return re.sub(r"\b(?:[a-z_][\w]*\.)+([A-Z]\w*)", r"\1", text)


def _handler_name(endpoint: Any) -> str:
    module = getattr(endpoint, "__module__", None) or "?"
    name = getattr(endpoint, "__qualname__", None) or type(endpoint).__qualname__
    return f"{module}:{name}"


def _field_text(field: Any) -> str:
    text = f"{field.alias}: {_type_name(field.annotation)}"
    if not field.required:
        default = field.default
        shown = repr(default) if not callable(default) else "…"
        text += f" = {shown}" if len(shown) <= 20 else " = …"
    return f"{text} [{field.location}]"


def _parameters(route: Any) -> list[str]:
    plan = getattr(route, "plan", None)
    if plan is not None and hasattr(plan, "all_fields"):
        fields = sorted(plan.all_fields(), key=lambda f: _LOCATION_ORDER.get(f.location, 9))
        params = [_field_text(f) for f in fields]
        deps = []
        for sub in plan.walk()[1:]:
            name = getattr(sub.call, "__name__", None) or type(sub.call).__name__
            if name not in deps:
                deps.append(name)
        params += [f"Depends({name})" for name in deps]
        return params
    # Fallback: the handler's signature.
    try:
        signature = inspect.signature(route.endpoint)
    except (TypeError, ValueError):
        return []
    return [
        f"{name}: {_type_name(p.annotation)}" + ("" if p.default is p.empty else " = …")
        for name, p in signature.parameters.items()
    ]


def route_rows(app: Any) -> list[RouteRow]:
    """The rows of the table for a Barq application, in registration order."""
    rows = []
    for route in getattr(app, "routes", []):
        methods = sorted(getattr(route, "methods", ()) or ())
        if "GET" in methods and "HEAD" in methods:
            methods.remove("HEAD")
        methods = ["WS" if m == "WEBSOCKET" else m for m in methods]  # a WebSocket endpoint
        rows.append(
            RouteRow(
                methods=", ".join(methods),
                path=str(getattr(route, "path", "?")),
                handler=_handler_name(getattr(route, "endpoint", route)),
                parameters=_parameters(route),
            )
        )
    return rows


_METHOD_STYLES = {
    "GET": "green",
    "POST": "yellow",
    "PUT": "blue",
    "PATCH": "cyan",
    "DELETE": "red",
    "WS": "bright_magenta",
}


def register(app: typer.Typer) -> None:
    """Add the ``routes`` command to the CLI."""

    @app.command("routes", cls=HelpCommand)
    def routes(
        app_path: str | None = typer.Argument(
            None, metavar="APP", envvar="BARQ_APP", show_default=False, show_envvar=False,
            help="module:attribute or a .py file. Default: \\[tool.barq] app, then discovery.",
        ),
        verbose: bool = option("--verbose", "-v", default=False, help="Show import tracebacks."),
    ) -> None:  # fmt: skip
        """List the routes: method, path, handler and parameters."""
        from barq_cli.discovery import AppImportError, import_app

        tool = load_config()
        spec = locate_app(app_path, tool, quiet=True)
        try:
            application = import_app(spec)
        except AppImportError as exc:
            cause = exc.__cause__
            if verbose and exc.user_code and cause is not None:
                from rich.traceback import Traceback

                from barq_cli.common import err_console

                err_console().print(
                    Traceback.from_exception(type(cause), cause, cause.__traceback__)
                )
            hint = "" if verbose or not exc.user_code else "Run with --verbose for the traceback."
            fail(str(exc), *([hint] if hint else []))
        if not hasattr(application, "routes"):
            fail(
                f"{spec.import_string} is a {type(application).__name__}, not a Barq "
                "application: it has no routes to list"
            )
        from barq.exceptions import BarqError

        try:
            rows = route_rows(application)
        except BarqError as exc:  # e.g. an annotation naming something that does not exist
            fail(str(exc))
        console = out_console()
        title = f"{getattr(application, 'title', None) or 'Routes'} ({spec.import_string})"
        table = Table(title=escape(title), title_justify="left", show_lines=False)
        table.add_column("Method", no_wrap=True)
        table.add_column("Path", style="bold", no_wrap=True)
        table.add_column("Handler", style="dim")
        table.add_column("Parameters")
        for row in rows:
            method_text = ", ".join(
                f"[{_METHOD_STYLES.get(m, 'magenta')}]{m}[/]" for m in row.methods.split(", ") if m
            )
            table.add_row(
                method_text,
                escape(row.path),
                escape(row.handler),
                escape("\n".join(row.parameters)) if row.parameters else "[dim]—[/]",
            )
        if not rows:
            console.print(f"{escape(spec.import_string)} has no routes yet.")
            return
        console.print(table)
        console.print(f"[dim]{len(rows)} route(s)[/]")
