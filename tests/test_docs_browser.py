"""/docs renders the API's operations in a real (headless) browser, offline.

Runs Debian's Chromium against a real Barq server whose /docs and /redoc pages
load Swagger UI 5 and ReDoc from the installed ``openapi-ui-bundles`` package (no
network). Skipped, with the reason, when Chromium or the package is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from pydantic import BaseModel

from barq import Barq
from barq.openapi.docs import redoc_assets, swagger_assets

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Pet(BaseModel):
    name: str
    age: int = 0


def make_app() -> Barq:
    app = Barq(title="Pet Store", version="2.0.0")

    @app.get("/pets/{pet_id}", tags=["pets"])
    def read_pet(pet_id: int) -> Pet:
        """Fetch one pet by its id."""
        return Pet(name="x")

    @app.post("/pets", tags=["pets"], status_code=201)
    def create_pet(pet: Pet) -> Pet:
        """Register a new pet."""
        return pet

    return app


def _dump_dom(url: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={Path(profile)}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.skipif(
    swagger_assets() is None,
    reason="openapi-ui-bundles is not installed (pip install 'barq[swagger]')",
)
def test_docs_page_renders_operations_in_chromium(serve) -> None:
    app = make_app()
    with serve(app) as server:
        host, port = server.addresses[0][:2]
        dom = _dump_dom(f"http://{host}:{port}/docs")
    # Swagger UI rendered the operations: paths, summaries, methods, the API title
    assert "opblock-summary-path" in dom, dom[-3000:]
    assert "/pets/{pet_id}" in dom or "/pets/\u200b{pet_id}" in dom
    # the summaries, from the handlers' names as FastAPI writes them
    assert "Read Pet" in dom and "Create Pet" in dom
    assert "Pet Store" in dom
    assert "Unable to render this definition" not in dom


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.skipif(
    redoc_assets() is None,
    reason="openapi-ui-bundles is not installed (pip install 'barq[swagger]')",
)
def test_redoc_page_renders_operations_in_chromium(serve) -> None:
    app = make_app()
    with serve(app) as server:
        host, port = server.addresses[0][:2]
        dom = _dump_dom(f"http://{host}:{port}/redoc")
    assert "Fetch one pet by its id." in dom, dom[-3000:]
    assert "Register a new pet." in dom
    assert "Pet Store" in dom
