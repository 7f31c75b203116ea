"""The API describes itself: `GET /openapi.json` (generated) and `GET /docs`, a Swagger UI page served from the package.

Both are public, like `/health`: the document names shapes, never data. Swagger UI is a
vendored, pinned copy (`swagger_ui/VERSION`), so the page needs no CDN. Its links are
relative, so it works under API Gateway's stage prefix as well as locally.
"""

from __future__ import annotations

import functools
from importlib import resources as package_files
from typing import Any

from chalice import Chalice, NotFoundError, Response

from chalicelib.routes.errors import Routes
from chalicelib.routes.openapi import TITLE, build_document

routes = Routes(__name__)

ASSETS = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css"}
CACHE = "public, max-age=86400"

PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{TITLE}</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true}});
  </script>
</body>
</html>
"""

_documents: dict[int, dict[str, Any]] = {}


def document_of(app: Chalice) -> dict[str, Any]:
    """The app's document, built once per process (the route table does not change at runtime)."""
    if id(app) not in _documents:
        _documents[id(app)] = build_document(app.routes)
    return _documents[id(app)]


@routes.route("/openapi.json", methods=["GET"])
def openapi_document() -> dict[str, Any]:
    """Generated from the route table and the models; validated in the unit tests."""
    return document_of(routes.current_app)


@routes.route("/docs", methods=["GET"])
def docs_page() -> Response:
    """Swagger UI on `/openapi.json`; "Authorize" takes an API token."""
    return Response(body=PAGE, headers={"Content-Type": "text/html; charset=utf-8"})


@routes.route("/docs/{asset}", methods=["GET"])
def docs_asset(asset: str) -> Response:
    if asset not in ASSETS:
        raise NotFoundError("no such asset")
    return Response(body=asset_text(asset), headers={"Content-Type": ASSETS[asset], "Cache-Control": CACHE})


@functools.cache
def asset_text(asset: str) -> str:
    return (package_files.files("chalicelib.routes") / "swagger_ui" / asset).read_text(encoding="utf-8")
