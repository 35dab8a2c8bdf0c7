"""A small registry of running servers with a stats endpoint, for `barq stats`.

Each server with stats enabled writes one JSON file into :func:`registry_dir`
(``$XDG_RUNTIME_DIR/barq/servers``, or ``~/.cache/barq/servers`` without it) and
removes it when it stops or exits. :func:`list_servers` ignores and deletes files
left behind by processes that no longer exist (e.g. after ``kill -9``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["list_servers", "register_server", "registry_dir", "unregister_server"]


def registry_dir() -> Path:
    """Where the per-server files live (not created here)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "barq" / "servers"
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "barq" / "servers"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _pid_alive_windows(pid: int) -> bool:
    """Windows: os.kill(pid, 0) would *terminate* the process; ask the kernel instead."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return bool(code.value == 259)  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def register_server(info: dict[str, Any]) -> Path:
    """Write ``info`` (must include ``pid``, ``host``, ``port``, ``url``); return the file.

    The file is written atomically with mode 0600 in a 0700 directory.
    """
    directory = registry_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{int(info['pid'])}-{int(info['port'])}.json"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(info, fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def unregister_server(path: Path) -> None:
    """Remove a file written by :func:`register_server` (missing is fine)."""
    with contextlib.suppress(OSError):
        path.unlink()


def list_servers() -> list[dict[str, Any]]:
    """Entries of live servers, oldest first; stale and unreadable files are removed.

    Each entry is the dict given to :func:`register_server` (``pid``, ``host``,
    ``port``, ``url``, and optionally ``app``, ``addresses``, ``started_at``).
    """
    directory = registry_dir()
    try:
        paths = sorted(directory.glob("*.json"))
    except OSError:
        return []
    entries: list[dict[str, Any]] = []
    for path in paths:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            pid = int(info["pid"])
            int(info["port"])
            str(info["url"])
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            # Half-written by a crashed process or not ours: drop it if it is old.
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > 60:
                    path.unlink()
            continue
        if not _pid_alive(pid):
            unregister_server(path)
            continue
        entries.append(info)
    entries.sort(key=lambda e: (float(e.get("started_at") or 0), int(e["port"])))
    return entries
