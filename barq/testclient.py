"""``from barq.testclient import TestClient``: the spelling FastAPI apps' tests use
for :class:`barq.testing.TestClient`."""

from __future__ import annotations

from barq.testing import TestClient

__all__ = ["TestClient"]
