"""Find the application: ``module:attribute``, a file path, or the usual places.

Resolution (:func:`resolve_app`) never imports user code, so the ``barq dev``
supervisor can use it; :func:`import_app` does the import (in the dev child, or
in-process for ``barq run`` and ``barq routes``).
"""

from __future__ import annotations

import ast
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "AppImportError",
    "AppSpec",
    "DiscoveryError",
    "find_app_object",
    "import_app",
    "resolve_app",
]

DEFAULT_ATTRIBUTE = "app"
#: Where ``barq dev``/``run``/``routes`` look when no APP is given, in order.
CANDIDATES = ("main.py", "app.py", "app/main.py", "src/*/main.py")


class DiscoveryError(Exception):
    """No application could be located; ``looked_for`` says where we looked."""

    def __init__(self, message: str, looked_for: list[str] | None = None) -> None:
        super().__init__(message)
        self.looked_for = looked_for or []


class AppImportError(Exception):
    """Importing the application failed (the original exception is ``__cause__``)."""

    def __init__(self, message: str, *, user_code: bool) -> None:
        super().__init__(message)
        #: True when the error comes from the user's code (show its traceback).
        self.user_code = user_code


@dataclass(frozen=True)
class AppSpec:
    """Where the application lives: import ``module`` with ``app_dir`` on sys.path."""

    module: str
    attribute: str
    app_dir: Path
    #: How it was found, for messages: "argument", "[tool.barq] app", "main.py" …
    source: str
    #: The module's file when known (for messages and watching).
    file: Path | None = None
    #: False when the attribute name was not given and may be searched for.
    explicit_attribute: bool = True

    @property
    def import_string(self) -> str:
        return f"{self.module}:{self.attribute}"

    def to_argv(self) -> list[str]:
        """Arguments that let ``barq_cli.child`` rebuild this spec."""
        argv = ["--app", self.import_string, "--app-dir", str(self.app_dir)]
        if not self.explicit_attribute:
            argv.append("--search-attribute")
        return argv


def _is_identifier_path(module: str) -> bool:
    return bool(module) and all(part.isidentifier() for part in module.split("."))


def _module_from_file(path: Path) -> tuple[str, Path]:
    """``pkg/sub/main.py`` → ``("pkg.sub.main", <dir above pkg>)``, walking up packages."""
    path = path.resolve()
    parts = [] if path.stem == "__init__" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    if not parts:  # a package's __init__.py given directly
        parts = [path.parent.name]
        directory = path.parent.parent
    return ".".join(parts), directory


def _module_file(module: str, root: Path) -> Path | None:
    """The file ``module`` would be imported from under ``root`` (no import)."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _assigns_name(path: Path, name: str) -> bool | None:
    """Whether ``path`` binds ``name`` at module level (None: cannot parse it)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return None
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        elif isinstance(node, ast.ImportFrom | ast.Import) and any(
            (alias.asname or alias.name.split(".")[0]) == name for alias in node.names
        ):
            return True
        for target in targets:
            if isinstance(target, ast.Name) and target.id == name:
                return True
    return False


def parse_app_string(value: str, root: Path, source: str) -> AppSpec:
    """Parse ``module:attr``, ``module``, ``path/to/file.py[:attr]`` relative to ``root``."""
    text = value.strip()
    target, sep, attribute = text.partition(":")
    explicit = bool(sep)
    if sep and not attribute.isidentifier():
        raise DiscoveryError(
            f"{source}: {value!r} is not MODULE:ATTRIBUTE (the part after ':' must be a "
            "Python name, e.g. app.main:app)"
        )
    attribute = attribute or DEFAULT_ATTRIBUTE
    looks_like_file = target.endswith(".py") or "/" in target or target.startswith(".")
    if looks_like_file:
        path = (root / target).resolve()
        if path.is_dir() and (path / "__init__.py").is_file():
            path = path / "__init__.py"
        if not path.is_file():
            raise DiscoveryError(f"{source}: no such file {path}")
        module, app_dir = _module_from_file(path)
        return AppSpec(module, attribute, app_dir, source, path, explicit)
    if not _is_identifier_path(target):
        raise DiscoveryError(
            f"{source}: {value!r} is neither a module path (app.main:app) nor a .py file"
        )
    file = _module_file(target, root)
    return AppSpec(target, attribute, root, source, file, explicit)


def resolve_app(argument: str | None, tool_app: str | None, root: Path) -> AppSpec:
    """The application to serve, from the APP argument, ``[tool.barq] app`` or discovery."""
    if argument:
        return parse_app_string(argument, root, "APP argument")
    if tool_app:
        return parse_app_string(tool_app, root, "[tool.barq] app in pyproject.toml")
    looked_for: list[str] = ["[tool.barq] app in pyproject.toml (not set)"]
    for pattern in CANDIDATES:
        matches = sorted(root.glob(pattern)) if "*" in pattern else [root / pattern]
        found_any = False
        for path in matches:
            if not path.is_file():
                continue
            found_any = True
            binds = _assigns_name(path, DEFAULT_ATTRIBUTE)
            if binds is False:
                looked_for.append(f"{path.relative_to(root)} (exists, but defines no `app`)")
                continue
            module, app_dir = _module_from_file(path)
            if pattern.startswith("src/"):
                app_dir = root / "src"
                module = ".".join(path.relative_to(app_dir).with_suffix("").parts)
            return AppSpec(
                module, DEFAULT_ATTRIBUTE, app_dir, str(path.relative_to(root)), path, False
            )
        if not found_any:
            looked_for.append(f"{pattern} (not found)")
    raise DiscoveryError(f"could not find a Barq application in {root}", looked_for)


def find_app_object(module: Any, spec: AppSpec) -> Any:
    """``spec.attribute`` of ``module``; if it was not given, any Barq instance in it."""
    if hasattr(module, spec.attribute):
        return getattr(module, spec.attribute)
    if not spec.explicit_attribute:
        from barq.app import Barq

        for value in vars(module).values():
            if isinstance(value, Barq):
                return value
    raise AppImportError(
        f"module {spec.module!r} ({spec.file or 'file unknown'}) has no attribute "
        f"{spec.attribute!r}; name the application with MODULE:ATTRIBUTE",
        user_code=False,
    )


def _check_origin(module: Any, spec: AppSpec) -> None:
    """The imported module must be the file we said we would serve."""
    filename = getattr(module, "__file__", None)
    if filename is None:
        return
    loaded = Path(filename).resolve()
    expected = spec.file.resolve() if spec.file is not None else None
    inside = spec.app_dir.resolve() in loaded.parents
    if (expected is not None and loaded != expected) or (expected is None and not inside):
        raise AppImportError(
            f"importing {spec.module!r} loaded {loaded}, not "
            f"{expected or 'a module under ' + str(spec.app_dir)}: a module of that name was "
            "already imported from elsewhere (another project on sys.path?). Rename the "
            "package, or pass the file path instead, e.g. barq run path/to/main.py",
            user_code=False,
        )


def import_app(spec: AppSpec) -> Any:
    """Import the application object described by ``spec``.

    Raises :class:`AppImportError`; its ``__cause__`` is the user's exception when
    the user's code failed (``user_code=True``).
    """
    app_dir = str(spec.app_dir)
    # First on sys.path even if it is there already: another project installed
    # in the same environment (``pip install -e``) may provide a module of the
    # same name (``app``) from an earlier entry.
    while app_dir in sys.path:
        sys.path.remove(app_dir)
    sys.path.insert(0, app_dir)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if spec.module == missing or spec.module.startswith(missing + "."):
            raise AppImportError(
                f"cannot import module {spec.module!r} (looked in {spec.app_dir})",
                user_code=False,
            ) from exc
        raise AppImportError(f"importing {spec.module!r} failed: {exc}", user_code=True) from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise AppImportError(
            f"importing {spec.module!r} failed: {type(exc).__name__}: {exc}", user_code=True
        ) from exc
    _check_origin(module, spec)
    app = find_app_object(module, spec)
    if not callable(app):
        raise AppImportError(
            f"{spec.import_string} is a {type(app).__name__}, not an application "
            "(a Barq instance or a callable taking an HTTPRequest)",
            user_code=False,
        )
    return app
