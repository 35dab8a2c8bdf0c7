"""Barq: a pure-Python HTTP framework and server for free-threaded CPython."""

from barq._version import __version__

__all__ = ["__version__"]
