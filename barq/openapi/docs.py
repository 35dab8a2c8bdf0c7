"""The ``/openapi.json`` and ``/docs`` (Swagger UI) routes.

:func:`add_docs_routes` is called by :class:`~barq.Barq` when it starts; it adds

- ``GET {openapi_url}`` (default ``/openapi.json``): ``app.openapi()`` as JSON;
- ``GET {docs_url}`` (default ``/docs``): the Swagger UI page, when
  ``openapi_url`` is set too;
- ``GET {docs_url}/static/{file}``: the Swagger UI assets of the installed
  ``swagger-ui-bundle`` package (``pip install barq[swagger]``), so the docs work
  offline. Without the package the page loads Swagger UI 5 from a CDN.

None of them appear in the OpenAPI document. ``openapi_url=None`` disables both
the document and the page; ``docs_url=None`` only the page. A route the app
already has at one of these paths wins.

The ``swagger-ui-bundle`` package currently ships Swagger UI 4, which does not
accept ``"openapi": "3.1.x"`` documents; for that version the page fetches the
document itself and hands Swagger UI a copy labelled 3.0.3 (the schemas render
the same). With Swagger UI 5 (CDN or a newer bundle) the document is used as is.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from barq.files import FileResponse
from barq.responses import HTMLResponse, JSONResponse, Response

if TYPE_CHECKING:
    from barq.app import Barq

__all__ = [
    "CDN_URL",
    "add_docs_routes",
    "swagger_assets",
    "swagger_ui_html",
]

#: where Swagger UI comes from when ``swagger-ui-bundle`` is not installed
CDN_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js")


def swagger_assets() -> tuple[Path, tuple[int, ...]] | None:
    """``(directory, version)`` of the installed Swagger UI assets, or None."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    directory = Path(os.fspath(swagger_ui_bundle.swagger_ui_path))
    if not all((directory / name).is_file() for name in _ASSETS):
        return None
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", directory.name)
    version = tuple(int(x) for x in match.groups()) if match else (0, 0, 0)
    return directory, version


def swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    assets_url: str | None,
    legacy_ui: bool = False,
) -> str:
    """The Swagger UI page for the document at ``openapi_url``.

    ``assets_url``: where ``swagger-ui.css`` / ``swagger-ui-bundle.js`` are served
    (None: the CDN). ``legacy_ui``: the UI predates OpenAPI 3.1 support (see the
    module docstring).
    """
    base = (assets_url or CDN_URL).rstrip("/")
    css = html.escape(f"{base}/swagger-ui.css", quote=True)
    js = html.escape(f"{base}/swagger-ui-bundle.js", quote=True)
    favicon = (
        f'<link rel="icon" type="image/png" href="{html.escape(base, quote=True)}/'
        'favicon-32x32.png">'
        if assets_url
        else ""
    )
    # JSON inside <script>: escape "<" so a title cannot close the script element
    config = json.dumps({"url": openapi_url, "legacy": legacy_ui}).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - Swagger UI</title>
<link rel="stylesheet" href="{css}">
{favicon}
</head>
<body>
<div id="swagger-ui"></div>
<script src="{js}"></script>
<script>
(function () {{
  var config = {config};
  var options = {{
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout"
  }};
  if (!config.legacy) {{
    options.url = config.url;
    window.ui = SwaggerUIBundle(options);
    return;
  }}
  fetch(config.url).then(function (r) {{ return r.json(); }}).then(function (doc) {{
    if (typeof doc.openapi === "string" && doc.openapi.indexOf("3.1") === 0) {{
      doc.openapi = "3.0.3";
    }}
    options.spec = doc;
    window.ui = SwaggerUIBundle(options);
  }});
}})();
</script>
</body>
</html>
"""


def _add_get_route(app: Barq, path: str, endpoint: Callable[..., Any], name: str) -> None:
    """Add a GET route left out of the schema, unless the app already has one there."""
    match = app.router.tree.match("GET", path)
    if match is not None and match.route is not None and match.route.path == path:
        return
    app.router.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False, name=name)


def add_docs_routes(app: Barq) -> None:
    """Register the OpenAPI document, docs page and asset routes (see the module docstring)."""
    openapi_url = app.openapi_url
    if not openapi_url:
        return
    cached: list[bytes] = []

    def openapi_document() -> Response:
        if not cached:
            cached.append(JSONResponse(app.openapi()).body)
        return Response(cached[0], media_type="application/json")

    _add_get_route(app, openapi_url, openapi_document, "openapi")
    docs_url = app.docs_url
    if not docs_url:
        return
    docs_url = docs_url.rstrip("/") or "/"
    found = swagger_assets()
    static_url = docs_url.rstrip("/") + "/static"
    page = swagger_ui_html(
        openapi_url=openapi_url,
        title=app.title,
        assets_url=static_url if found else None,
        legacy_ui=found is not None and found[1] < (5,),
    )

    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(page)

    _add_get_route(app, docs_url, swagger_ui, "swagger_ui")
    if found is None:
        return
    directory = found[0]
    files = {p.name: p for p in directory.iterdir() if p.is_file()}

    def swagger_asset(name: str) -> Any:
        path = files.get(name)
        if path is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return FileResponse(path, headers={"cache-control": "public, max-age=3600"})

    _add_get_route(app, static_url + "/{name}", swagger_asset, "swagger_ui_asset")
