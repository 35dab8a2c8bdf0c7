"""The ``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) routes.

:func:`add_docs_routes` is called by :class:`~barq.Barq` when it is built; it adds

- ``GET {openapi_url}`` (default ``/openapi.json``): ``app.openapi()`` as JSON;
- ``GET {docs_url}`` (default ``/docs``): the Swagger UI page, which reads the
  OpenAPI 3.1 document itself, and ``GET {docs_url}/oauth2-redirect`` for
  OAuth2 logins from it;
- ``GET {redoc_url}`` (default ``/redoc``): the ReDoc page;
- ``GET {docs_url}/static/{file}`` and ``GET {redoc_url}/static/{file}``: the
  Swagger UI 5 and ReDoc assets of the installed ``openapi-ui-bundles`` package
  (``pip install barq[swagger]``; ``make demo`` installs it), so the pages work
  offline. Without the package they load the same tools from a CDN.

None of them appear in the OpenAPI document. ``openapi_url=None`` disables them
all; ``docs_url=None`` / ``redoc_url=None`` one page. A route the app already has
at one of these paths wins.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from barq.files import FileResponse
from barq.responses import HTMLResponse, JSONResponse, Response
from barq.routing import Route, RouteOptions

if TYPE_CHECKING:
    from barq.app import Barq

__all__ = [
    "CDN_URL",
    "REDOC_CDN_URL",
    "SWAGGER_UI_DEFAULT_PARAMETERS",
    "add_docs_routes",
    "get_redoc_html",
    "get_swagger_ui_html",
    "get_swagger_ui_oauth2_redirect_html",
    "redoc_assets",
    "redoc_html",
    "swagger_assets",
    "swagger_ui_html",
]

#: where Swagger UI comes from when ``openapi-ui-bundles`` is not installed
CDN_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
#: where ReDoc comes from when ``openapi-ui-bundles`` is not installed
REDOC_CDN_URL = "https://cdn.jsdelivr.net/npm/redoc@2/bundles"
_SWAGGER_FILES = ("swagger-ui.css", "swagger-ui-bundle.js")
_REDOC_FILES = ("redoc.standalone.js",)

#: Swagger UI options Barq sets (FastAPI's); ``swagger_ui_parameters`` overrides them.
SWAGGER_UI_DEFAULT_PARAMETERS: dict[str, Any] = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
}


def _bundle(module: str, files: tuple[str, ...]) -> Path | None:
    try:
        package = __import__(f"openapi_ui_bundles.{module}", fromlist=["static_path"])
    except ImportError:
        return None
    directory = Path(package.static_path)
    return directory if all((directory / name).is_file() for name in files) else None


def swagger_assets() -> Path | None:
    """The directory of the installed Swagger UI 5 assets, or None."""
    return _bundle("swagger_ui", _SWAGGER_FILES)


def redoc_assets() -> Path | None:
    """The directory of the installed ReDoc assets, or None."""
    return _bundle("redoc", _REDOC_FILES)


def _script_json(value: Any) -> str:
    # JSON inside <script>: escape "<" so no string can close the script element
    return json.dumps(value).replace("<", "\\u003c")


def swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    assets_url: str | None,
    parameters: Mapping[str, Any] | None = None,
    oauth2_redirect_url: str | None = None,
    init_oauth: Mapping[str, Any] | None = None,
    js_url: str | None = None,
    css_url: str | None = None,
    favicon_url: str | None = None,
    page_title: str | None = None,
) -> str:
    """The Swagger UI page for the document at ``openapi_url``.

    ``assets_url``: where ``swagger-ui.css`` / ``swagger-ui-bundle.js`` are served
    (None: the CDN), or ``js_url`` / ``css_url`` / ``favicon_url`` each;
    ``parameters``: Swagger UI options (over :data:`SWAGGER_UI_DEFAULT_PARAMETERS`);
    ``init_oauth``: options for ``ui.initOAuth`` (a client id for the Authorize
    dialog); ``page_title``: the whole ``<title>`` (default: "{title} - Swagger UI").
    """
    base = (assets_url or CDN_URL).rstrip("/")
    css = html.escape(css_url or f"{base}/swagger-ui.css", quote=True)
    js = html.escape(js_url or f"{base}/swagger-ui-bundle.js", quote=True)
    if favicon_url is None and assets_url:
        favicon_url = f"{base}/favicon-32x32.png"
    favicon = (
        f'<link rel="icon" type="image/png" href="{html.escape(favicon_url, quote=True)}">'
        if favicon_url
        else ""
    )
    options = {"url": openapi_url, **SWAGGER_UI_DEFAULT_PARAMETERS, **(parameters or {})}
    if oauth2_redirect_url:
        options["oauth2RedirectUrl"] = oauth2_redirect_url
    # one option per line, as FastAPI writes them (tests and tools grep for them)
    lines = "".join(f"    {_script_json(k)}: {_script_json(v)},\n" for k, v in options.items())
    oauth = f"  window.ui.initOAuth({_script_json(dict(init_oauth))});\n" if init_oauth else ""
    heading = html.escape(page_title if page_title is not None else f"{title} - Swagger UI")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title>
<link rel="stylesheet" href="{css}">
{favicon}
</head>
<body>
<div id="swagger-ui"></div>
<script src="{js}"></script>
<script>
(function () {{
  var options = {{
{lines}    presets: [
      SwaggerUIBundle.presets.apis,
      SwaggerUIBundle.SwaggerUIStandalonePreset
    ],
  }};
  var redirect = options.oauth2RedirectUrl;
  if (redirect && redirect.charAt(0) === "/") {{
    options.oauth2RedirectUrl = window.location.origin + redirect;
  }}
  window.ui = SwaggerUIBundle(options);
{oauth}}})();
</script>
</body>
</html>
"""


def redoc_html(
    *,
    openapi_url: str,
    title: str,
    assets_url: str | None,
    js_url: str | None = None,
    favicon_url: str | None = None,
    page_title: str | None = None,
) -> str:
    """The ReDoc page for the document at ``openapi_url`` (``assets_url``: None for
    the CDN; or ``js_url`` itself)."""
    base = (assets_url or REDOC_CDN_URL).rstrip("/")
    js = html.escape(js_url or f"{base}/redoc.standalone.js", quote=True)
    favicon = (
        f'<link rel="shortcut icon" href="{html.escape(favicon_url, quote=True)}">'
        if favicon_url
        else ""
    )
    heading = html.escape(page_title if page_title is not None else f"{title} - ReDoc")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title>
{favicon}
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc needs JavaScript to show the API documentation.</noscript>
<redoc spec-url="{html.escape(openapi_url, quote=True)}"></redoc>
<script src="{js}"></script>
</body>
</html>
"""


_OAUTH2_REDIRECT = """<!doctype html>
<html lang="en"><head><title>Swagger UI: OAuth2 Redirect</title></head>
<body>
<script>
"use strict";
(function () {
  var oauth2 = window.opener.swaggerUIRedirectOauth2;
  var sentState = oauth2.state;
  var redirectUrl = oauth2.redirectUrl;
  var query = /code|token|error/.test(window.location.hash)
    ? window.location.hash.substring(1)
    : location.search.substring(1);
  var params = {};
  query.replace(/\\+/g, " ").split("&").forEach(function (pair) {
    var i = pair.indexOf("=");
    if (i > 0) {
      params[decodeURIComponent(pair.slice(0, i))] = decodeURIComponent(pair.slice(i + 1));
    }
  });
  var isValid = params.state === sentState;
  var flow = oauth2.auth.schema.get("flow");
  if ((flow === "accessCode" || flow === "authorizationCode" || flow === "authorization_code")
      && !oauth2.auth.code) {
    if (!isValid) {
      oauth2.errCb({authId: oauth2.auth.name, source: "auth", level: "warning",
                    message: "Authorization may be unsafe, passed state was changed in server."});
    }
    if (params.code) {
      delete oauth2.state;
      oauth2.auth.code = params.code;
      oauth2.callback({auth: oauth2.auth, redirectUrl: redirectUrl});
    } else {
      oauth2.errCb({authId: oauth2.auth.name, source: "auth", level: "error",
                    message: params.error ? params.error + ": " + (params.error_description || "")
                                          : "[Authorization failed]: no access code received"});
    }
  } else {
    oauth2.callback({auth: oauth2.auth, token: params, isValid: isValid,
                     redirectUrl: redirectUrl});
  }
  window.close();
})();
</script>
</body></html>
"""


def _add_get_route(app: Barq, path: str, endpoint: Callable[..., Any], name: str) -> None:
    """Add a GET route left out of the schema, unless the app already has one there."""
    match = app.router.tree.match("GET", path)
    if match is not None and match.route is not None and match.route.path == path:
        return
    # Added as a built route: the app's own dependencies (an API key check, say)
    # guard the API, not the document and pages that describe it (as in FastAPI)
    app.router.add_route(
        Route(
            path,
            endpoint,
            methods=["GET"],
            options=RouteOptions(include_in_schema=False, name=name),
        )
    )


def _add_assets(app: Barq, url: str, directory: Path, name: str) -> None:
    files = {p.name: p for p in directory.iterdir() if p.is_file()}

    def asset(name: str) -> Any:
        path = files.get(name)
        if path is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return FileResponse(path, headers={"cache-control": "public, max-age=3600"})

    _add_get_route(app, url + "/{name}", asset, name)


def add_docs_routes(app: Barq) -> None:
    """Register the OpenAPI document, the docs pages and their assets (see above)."""
    openapi_url = app.openapi_url
    if not openapi_url:
        return
    cached: list[bytes] = []

    def openapi_document() -> Response:
        if not cached:
            cached.append(JSONResponse(app.openapi()).body)
        return Response(cached[0], media_type="application/json")

    _add_get_route(app, openapi_url, openapi_document, "openapi")
    # where a browser finds the document: behind a proxy that strips root_path
    document_url = (getattr(app, "root_path", "") or "") + openapi_url
    if app.docs_url:
        docs_url = app.docs_url.rstrip("/") or "/"
        swagger = swagger_assets()
        static_url = docs_url.rstrip("/") + "/static"
        redirect_url = getattr(app, "swagger_ui_oauth2_redirect_url", None) or (
            docs_url.rstrip("/") + "/oauth2-redirect"
        )
        swagger_page = swagger_ui_html(
            openapi_url=document_url,
            title=app.title,
            assets_url=static_url if swagger is not None else None,
            parameters=getattr(app, "swagger_ui_parameters", None),
            oauth2_redirect_url=redirect_url,
            init_oauth=getattr(app, "swagger_ui_init_oauth", None),
        )

        def swagger_ui() -> HTMLResponse:
            return HTMLResponse(swagger_page)

        def swagger_ui_redirect() -> HTMLResponse:
            return HTMLResponse(_OAUTH2_REDIRECT)

        _add_get_route(app, docs_url, swagger_ui, "swagger_ui")
        _add_get_route(app, redirect_url, swagger_ui_redirect, "swagger_ui_redirect")
        if swagger is not None:
            _add_assets(app, static_url, swagger, "swagger_ui_asset")
    redoc_url = getattr(app, "redoc_url", None)
    if redoc_url:
        redoc_url = redoc_url.rstrip("/") or "/"
        redoc = redoc_assets()
        redoc_static = redoc_url.rstrip("/") + "/static"
        redoc_page = redoc_html(
            openapi_url=document_url,
            title=app.title,
            assets_url=redoc_static if redoc is not None else None,
        )

        def redoc_ui() -> HTMLResponse:
            return HTMLResponse(redoc_page)

        _add_get_route(app, redoc_url, redoc_ui, "redoc")
        if redoc is not None:
            _add_assets(app, redoc_static, redoc, "redoc_asset")


# -- FastAPI's names, for apps that serve their own docs pages ------------------


def get_swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    swagger_js_url: str = f"{CDN_URL}/swagger-ui-bundle.js",
    swagger_css_url: str = f"{CDN_URL}/swagger-ui.css",
    swagger_favicon_url: str | None = None,
    oauth2_redirect_url: str | None = None,
    init_oauth: Mapping[str, Any] | None = None,
    swagger_ui_parameters: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """A Swagger UI page (``title`` is the whole page title), e.g. with the
    assets served from your own static files."""
    return HTMLResponse(
        swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            assets_url=None,
            parameters=swagger_ui_parameters,
            oauth2_redirect_url=oauth2_redirect_url,
            init_oauth=init_oauth,
            js_url=swagger_js_url,
            css_url=swagger_css_url,
            favicon_url=swagger_favicon_url,
            page_title=title,
        )
    )


def get_redoc_html(
    *,
    openapi_url: str,
    title: str,
    redoc_js_url: str = f"{REDOC_CDN_URL}/redoc.standalone.js",
    redoc_favicon_url: str | None = None,
    with_google_fonts: bool = False,
) -> HTMLResponse:
    """A ReDoc page (``title`` is the whole page title). ``with_google_fonts`` is
    accepted for FastAPI's signature; the page loads no fonts from elsewhere."""
    return HTMLResponse(
        redoc_html(
            openapi_url=openapi_url,
            title=title,
            assets_url=None,
            js_url=redoc_js_url,
            favicon_url=redoc_favicon_url,
            page_title=title,
        )
    )


def get_swagger_ui_oauth2_redirect_html() -> HTMLResponse:
    """The page Swagger UI's OAuth2 login returns to."""
    return HTMLResponse(_OAUTH2_REDIRECT)
