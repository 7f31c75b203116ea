"""The operations console: its page and files under `/console`, public like `/health`.

The files hold no data; the page asks the JSON API for everything with the operator's
bearer token, so these routes need no authorizer (a browser cannot send a token when it
loads a page). See `chalicelib/console/README.md`.
"""

from __future__ import annotations

from chalice import Response

from chalicelib.console import INDEX, asset
from chalicelib.routes.errors import Routes

routes = Routes(__name__)


def _answer(name: str) -> Response:
    found = asset(name)
    return Response(status_code=200, body=found.body, headers=found.headers())


@routes.route("/console", methods=["GET"])
def console_page() -> Response:
    if str(routes.current_request.context.get("path", "")).endswith("/"):
        # from …/console/ the page's relative links would point one level too deep
        return Response(status_code=302, body="", headers={"Location": "../console"})
    return _answer(INDEX)


@routes.route("/console/{name}", methods=["GET"])
def console_file(name: str) -> Response:
    return _answer(name)
