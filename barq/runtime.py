"""Facts about the running interpreter: build, GIL state, what re-enabled the GIL.

On a free-threaded build, importing a C extension that does not declare
free-threading support turns the GIL back on for the whole process; CPython
says so in a ``RuntimeWarning`` naming the module. :func:`watch_gil` (called
when ``barq`` is imported) records those names, so that the server, ``barq
dev``/``barq run`` and ``barq doctor`` can say *which* import did it and what
to do about it.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import sys
import sysconfig
import threading
import warnings
from typing import Any

__all__ = [
    "describe_interpreter",
    "free_threaded_build",
    "gil_advice",
    "gil_culprits",
    "gil_enabled",
    "warn_if_gil_reenabled",
    "watch_gil",
]

logger = logging.getLogger("barq.runtime")

_GIL_WARNING = re.compile(
    r"The global interpreter lock \(GIL\) has been enabled to load module '([^']+)'"
)
_culprits: list[str] = []
_lock = threading.Lock()
_watching = False


def free_threaded_build() -> bool:
    """True when this interpreter was built with ``--disable-gil`` (PEP 703)."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """True when the GIL is active right now (always True on GIL builds)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def describe_interpreter() -> str:
    """One line such as ``CPython 3.13.5 free-threaded, GIL off``."""
    build = "free-threaded" if free_threaded_build() else "with GIL"
    state = "GIL on" if gil_enabled() else "GIL off"
    return f"{platform.python_implementation()} {platform.python_version()} {build}, {state}"


def watch_gil() -> None:
    """Record the modules whose import re-enables the GIL (idempotent; a no-op on
    builds with a GIL). CPython's warning is still shown as before."""
    global _watching
    if not free_threaded_build():
        return
    with _lock:
        if _watching:
            return
        _watching = True
        previous = warnings.showwarning

        def showwarning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
            match = _GIL_WARNING.search(str(message))
            if match is not None:
                with _lock:
                    if match.group(1) not in _culprits:
                        _culprits.append(match.group(1))
            previous(message, category, *args, **kwargs)

        warnings.showwarning = showwarning
        # "default" shows a warning once per place; record every module.
        warnings.filterwarnings("always", message=".*has been enabled to load module.*")


def gil_culprits() -> list[str]:
    """Modules whose import re-enabled the GIL since :func:`watch_gil`, in order."""
    with _lock:
        return list(_culprits)


def _forced() -> str | None:
    """The setting that forces the GIL on, if any (``PYTHON_GIL=1`` or ``-X gil=1``)."""
    if sys._xoptions.get("gil") == "1":
        return "-X gil=1"
    if os.environ.get("PYTHON_GIL") == "1":
        return "PYTHON_GIL=1"
    return None


def gil_advice() -> str | None:
    """Why a free-threaded build runs with its GIL on and what to do; None when it is off."""
    if not free_threaded_build() or not gil_enabled():
        return None
    forced = _forced()
    if forced is not None:
        return f"{forced} is set: remove it to run handlers in parallel."
    culprits = gil_culprits()
    if culprits:
        names = ", ".join(repr(m) for m in culprits)
        return (
            f"importing {names} re-enabled it (an extension without free-threading "
            "support). Upgrade it to a release with free-threaded (cp313t/cp314t) wheels "
            "or replace it; PYTHON_GIL=0 forces the GIL off at your own risk. "
            "`barq doctor` checks every dependency."
        )
    return (
        "a module imported before Barq re-enabled it (an extension without "
        "free-threading support); `barq doctor` finds which. PYTHON_GIL=0 forces the "
        "GIL off at your own risk."
    )


def warn_if_gil_reenabled() -> bool:
    """Log a loud warning when a free-threaded build runs with its GIL enabled,
    naming the cause. Returns True if it warned."""
    advice = gil_advice()
    if advice is None:
        return False
    logger.warning(
        "This is a free-threaded Python build but the GIL is ENABLED: %s Handlers will "
        "not run in parallel.",
        advice,
    )
    return True
