"""Barq's benchmark harness: ``python -m benchmarks --help`` (see docs/benchmarks.md).

Importing this package installs and starts nothing; the comparators live in the
separate ``.venv-bench`` environment that ``scripts/bench`` creates.
"""
