"""Render a project template (the engine behind ``barq new``).

Templates are plain directory trees. Text files may contain ``{{ name }}``
placeholders for the keys of the context; a file called ``gitignore`` is written as
``.gitignore`` (dot-files do not survive every packaging tool). In a wheel the
templates live in ``barq_cli/templates/``; in a source checkout in ``<repo>/templates/``.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MANIFEST",
    "RESERVED_NAMES",
    "InvalidProjectName",
    "RenderResult",
    "available_templates",
    "render_template",
    "suggest_project_name",
    "templates_root",
    "validate_project_name",
]

# PEP 508 distribution names: letters, digits, ".", "_" and "-", starting and ending
# with a letter or digit.
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".DS_Store"}
_RENAMES = {"gitignore": ".gitignore"}

#: What ``barq new`` wrote into a project (template, files and their digests), so that
#: ``--force`` with another template can remove the previous one's unchanged files.
MANIFEST = ".barq-template.json"

# Names that would shadow what the generated project imports or depends on.
RESERVED_NAMES = frozenset({"barq", "barq-cli", "app", "tests", "test", "pydantic", "pytest"})


class InvalidProjectName(ValueError):
    """A project name that ``barq new`` refuses, with a reason and a suggestion."""

    def __init__(self, name: str, reason: str, suggestion: str | None) -> None:
        super().__init__(reason)
        self.name = name
        self.reason = reason
        self.suggestion = suggestion


@dataclass
class RenderResult:
    """What :func:`render_template` wrote."""

    created: list[Path] = field(default_factory=list)
    overwritten: list[Path] = field(default_factory=list)
    #: files of the previously generated template, unchanged, that this one lacks
    removed: list[Path] = field(default_factory=list)
    #: such files that were edited since: kept
    kept: list[Path] = field(default_factory=list)


def templates_root() -> Path:
    """The directory holding the templates, in a wheel install or a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir() and any(p.is_dir() for p in candidate.iterdir()):
            return candidate
    raise FileNotFoundError(
        f"no Barq project templates found in {here / 'templates'} or {here.parent / 'templates'}"
        " (is the installation complete?)"
    )


def available_templates() -> list[str]:
    """Names of the templates that ``barq new --template`` accepts."""
    root = templates_root()
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )


def suggest_project_name(name: str) -> str | None:
    """A close, valid project name for an invalid ``name`` (None if there is none)."""
    candidate = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-._")
    candidate = re.sub(r"-{2,}", "-", candidate).lower()
    if not candidate or not _NAME_RE.match(candidate):
        return None
    if candidate.lower() in RESERVED_NAMES:
        candidate = f"my-{candidate}"
    return candidate


def validate_project_name(name: str) -> str:
    """Return ``name`` if it can name the project directory and distribution.

    The application package inside the project is always ``app`` (so
    ``[tool.barq] app = "app.main:app"`` works unchanged), therefore the name only has
    to be a valid distribution name (PEP 508) that is also a safe directory name:
    ``my-app``, ``my_app`` and ``shop.api`` are fine; ``my app`` or ``../x`` are not.
    Raises :class:`InvalidProjectName` with a reason and a suggestion otherwise.
    """
    if not name or not name.strip():
        raise InvalidProjectName(name, "the project name is empty", None)
    if "/" in name or "\\" in name:
        raise InvalidProjectName(
            name,
            "the project name must be a single directory name, not a path "
            "(run `barq new` inside the parent directory instead)",
            suggest_project_name(Path(name).name),
        )
    if not _NAME_RE.match(name):
        raise InvalidProjectName(
            name,
            "a project name may only contain letters, digits, '-', '_' and '.', and must "
            "start and end with a letter or a digit",
            suggest_project_name(name),
        )
    if name.lower().replace("_", "-") in RESERVED_NAMES or keyword.iskeyword(name):
        raise InvalidProjectName(
            name,
            f"'{name}' would clash with a package the project imports or depends on",
            f"my-{name.lower()}",
        )
    return name


def _render_text(text: str, context: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        return context[key] if key in context else match.group(0)

    return _PLACEHOLDER_RE.sub(replace, text)


def _template_files(source: Path) -> list[tuple[Path, Path]]:
    """(source file, path relative to the project) for every file of a template."""
    files = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part in _SKIP_NAMES or part.endswith(".pyc") for part in rel.parts):
            continue
        if path.is_file():
            target = rel.with_name(_RENAMES.get(rel.name, rel.name))
            files.append((path, target))
    return files


def template_paths(template: str) -> list[Path]:
    """Paths (relative to the project) that ``template`` writes."""
    return [target for _, target in _template_files(templates_root() / template)]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rendered(template: str, context: dict[str, str]) -> dict[Path, bytes]:
    """The files ``template`` writes (relative path -> content)."""
    source = templates_root() / template
    if not source.is_dir():
        raise FileNotFoundError(f"unknown template {template!r}")
    out = {}
    for path, rel in _template_files(source):
        data = path.read_bytes()
        try:
            out[rel] = _render_text(data.decode("utf-8"), context).encode("utf-8")
        except UnicodeDecodeError:
            out[rel] = data
    return out


def _previous_files(destination: Path, context: dict[str, str]) -> dict[Path, str]:
    """Files an earlier ``barq new`` wrote into ``destination``: path -> digest.

    From its manifest; for a project generated before manifests existed, every
    template's files are candidates (only unchanged copies are ever removed).
    """
    manifest = destination / MANIFEST
    try:
        data = json.loads(manifest.read_text())
        return {Path(p): str(d) for p, d in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    files: dict[Path, str] = {}
    for name in available_templates():
        for rel, content in _rendered(name, context).items():
            files.setdefault(rel, _digest(content))
    return files


def render_template(
    template: str, destination: Path, context: dict[str, str], *, replace: bool = False
) -> RenderResult:
    """Write ``template`` into ``destination``, replacing ``{{ key }}`` placeholders.

    Existing files that are part of the template are overwritten. With
    ``replace`` (``barq new --force``), files an earlier template wrote that this
    one does not have are removed if unchanged (edited ones are kept and listed
    in :attr:`RenderResult.kept`); nothing else in ``destination`` is touched.
    A manifest (:data:`MANIFEST`) records what was written.
    """
    files = _rendered(template, context)
    result = RenderResult()
    previous = _previous_files(destination, context) if replace else {}
    destination.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        (result.overwritten if target.exists() else result.created).append(target)
        target.write_bytes(content)
    for rel, digest in sorted(previous.items()):
        target = destination / rel
        if rel in files or not target.is_file():
            continue
        if _digest(target.read_bytes()) == digest:
            target.unlink()
            result.removed.append(target)
            parent = target.parent
            while parent != destination and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        else:
            result.kept.append(target)
    manifest = {
        "template": template,
        "files": {str(rel): _digest(content) for rel, content in files.items()},
    }
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return result
