"""Facts about the running interpreter: build, GIL state, JSON backend choice."""

from __future__ import annotations

import logging
import platform
import sys
import sysconfig

__all__ = [
    "describe_interpreter",
    "free_threaded_build",
    "gil_enabled",
    "warn_if_gil_reenabled",
]

logger = logging.getLogger("barq.runtime")


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


def warn_if_gil_reenabled() -> bool:
    """Log a loud warning when a free-threaded build runs with its GIL enabled.

    That happens when an extension module without free-threading support (for
    example orjson) is imported, or with ``PYTHON_GIL=1``. Returns True if it warned.
    """
    if free_threaded_build() and gil_enabled():
        logger.warning(
            "This is a free-threaded Python build but the GIL is ENABLED: an imported C "
            "extension does not declare free-threading support (or PYTHON_GIL=1 is set). "
            "Handlers will not run in parallel. Run with PYTHON_GIL=0 to force it off, or "
            "find the module with `python -X importtime` and replace it."
        )
        return True
    return False
