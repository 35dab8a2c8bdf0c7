"""OpenAPI 3.1 for Barq apps: the document generator and the interactive docs page.

- :func:`get_openapi` builds the document from routes (what ``app.openapi()`` returns
  and ``/openapi.json`` serves); schemas come from Pydantic's JSON Schema.
- :mod:`barq.openapi.docs` serves Swagger UI 5 at ``/docs`` and ReDoc at ``/redoc``,
  from the assets of the ``openapi-ui-bundles`` package when it is installed
  (works offline), else from a CDN.
"""

from barq.openapi.generator import (
    REF_TEMPLATE,
    VALIDATION_ERROR_SCHEMAS,
    get_openapi,
    operation_id_for,
)

__all__ = ["REF_TEMPLATE", "VALIDATION_ERROR_SCHEMAS", "get_openapi", "operation_id_for"]
