"""File watching for ``barq dev``: which files trigger a reload, and the watcher threads.

By default every ``*.py`` file under the project triggers a reload; ``--reload-include``
adds patterns (``*.html``, ``templates/*``), ``--reload-exclude`` removes matches
(a pattern is matched against the file name, the path relative to the watched
directory, and every directory name on the way). Virtual environments, VCS
metadata, caches and build outputs are never watched at all: their top-level
directories are not even handed to the OS watcher, so a large ``.venv`` costs nothing.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import watchfiles

__all__ = ["IGNORED_DIRS", "ChangeFilter", "Watcher"]

#: Directory names that never trigger a reload and are never watched.
IGNORED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", ".tox", ".nox",
        "__pycache__", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        ".hypothesis", ".idea", ".vscode", "build", "dist", "site", "htmlcov",
        ".eggs", "site-packages",
    }
)  # fmt: skip
#: Editor temporaries and compiled files.
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swo", ".swx", "~", ".tmp")

#: Time to wait for more changes once one arrived, and the longest grouping.
STEP_MS = 20
DEBOUNCE_MS = 300


def _ignored_dir(name: str) -> bool:
    return name in IGNORED_DIRS or name.endswith(".egg-info")


def _resolved(path: Path) -> Path:
    """``path`` with symbolic links resolved: the roots are, and on macOS a
    project under /tmp or /var is reported as /private/tmp or /private/var
    (or the other way round)."""
    try:
        return path.resolve()
    except OSError:
        return path


class ChangeFilter:
    """Decides whether a changed path should trigger a reload."""

    def __init__(
        self,
        roots: Sequence[Path],
        includes: Iterable[str] = (),
        excludes: Iterable[str] = (),
    ) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.includes = ["*.py", *includes]
        self.excludes = list(excludes)

    def _relative(self, path: Path) -> str:
        for candidate in (path, _resolved(path)):
            for root in self.roots:
                with contextlib.suppress(ValueError):
                    return candidate.relative_to(root).as_posix()
        return path.as_posix()

    def _matches(self, patterns: list[str], name: str, rel: str, parts: Sequence[str]) -> bool:
        for pattern in patterns:
            if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel, pattern):
                return True
            if any(fnmatch.fnmatch(part, pattern) for part in parts):
                return True
        return False

    def __call__(self, change: object, path: str) -> bool:
        p = Path(path)
        name = p.name
        if name.endswith(_IGNORED_SUFFIXES) or name.startswith((".#", "#")):
            return False
        rel = self._relative(p)
        dirs = rel.split("/")[:-1]
        if any(_ignored_dir(d) for d in dirs):
            return False
        if self.excludes and self._matches(self.excludes, name, rel, dirs):
            return False
        return self._matches(self.includes, name, rel, ())


class Watcher:
    """Watch ``roots`` from background threads; batches of changed paths go to ``on_change``.

    Each root is watched non-recursively for its own files, and each of its
    sub-directories that is not ignored is watched recursively; a sub-directory
    created later is picked up.
    """

    def __init__(self, roots: Sequence[Path], change_filter: ChangeFilter,
                 on_change: Callable[[set[str]], None]) -> None:  # fmt: skip
        self.roots = [Path(r).resolve() for r in roots]
        self.filter = change_filter
        self.on_change = on_change
        self._stop = threading.Event()
        self._watched: set[Path] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.errors: queue.SimpleQueue[str] = queue.SimpleQueue()

    def start(self) -> None:
        for root in self.roots:
            self._spawn(root, recursive=False)
            with contextlib.suppress(OSError):
                for entry in sorted(root.iterdir()):
                    if entry.is_dir() and not entry.is_symlink():
                        self._maybe_watch_subdir(entry)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop watching and wait for the watcher threads to leave watchfiles.

        The wait matters: a thread still inside watchfiles' native code when the
        interpreter finalizes can crash it on exit (seen on free-threaded 3.13).
        watchfiles checks the stop event every STEP_MS, so this takes ~20 ms.
        """
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _maybe_watch_subdir(self, path: Path) -> None:
        if _ignored_dir(path.name) or self._excluded_dir(path):
            return
        self._spawn(path, recursive=True)

    def _excluded_dir(self, path: Path) -> bool:
        rel = self.filter._relative(path)
        return any(
            fnmatch.fnmatch(path.name, pattern) or fnmatch.fnmatch(rel, pattern)
            for pattern in self.filter.excludes
        )

    def _spawn(self, path: Path, *, recursive: bool) -> None:
        with self._lock:
            if path in self._watched:
                return
            self._watched.add(path)
        thread = threading.Thread(
            target=self._run, args=(path, recursive), name=f"barq-watch-{path.name}", daemon=True
        )
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, change: watchfiles.Change, path: str) -> bool:
        return self.filter(change, path)

    def _run(self, path: Path, recursive: bool) -> None:
        def accept(change: watchfiles.Change, changed: str) -> bool:
            if (not recursive and change == watchfiles.Change.added
                    and os.path.isdir(changed) and Path(changed).parent in self.roots):  # fmt: skip
                self._maybe_watch_subdir(Path(changed))
                return False
            return self.filter(change, changed)

        try:
            for changes in watchfiles.watch(
                path,
                watch_filter=accept,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=self._stop,
                rust_timeout=1000,
                yield_on_timeout=False,
                raise_interrupt=False,
                recursive=recursive,
            ):
                if changes:
                    self.on_change({changed for _, changed in changes})
        except Exception as exc:  # e.g. the directory was removed, inotify limit reached
            if not self._stop.is_set():
                self.errors.put(f"cannot watch {path}: {exc}")
        finally:
            with self._lock:
                self._watched.discard(path)
