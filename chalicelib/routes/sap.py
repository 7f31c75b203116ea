"""SAP: the shared throttle, read and changed at runtime, and replaying parked dispatches."""

from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.routes.access import token_auth
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import replay_limit
from chalicelib.sap import api as sap_api

routes = Routes(__name__)


@routes.route("/sap/throttle", methods=["GET"], authorizer=token_auth)
def get_sap_throttle() -> dict[str, Any]:
    return sap_api.throttle_view(wiring.sap_throttle())


@routes.route("/sap/throttle", methods=["PUT"], authorizer=token_auth)
def put_sap_throttle() -> dict[str, Any]:
    return sap_api.change_throttle(routes.current_request.json_body, wiring.sap_throttle())


@routes.route("/sap/replay", methods=["POST"], authorizer=token_auth)
def replay_sap() -> dict[str, Any]:
    """Move parked dispatch messages from the SAP DLQ back to the queue (`?limit=`, default 1000)."""
    return wiring.replay_sap_dead_letters(replay_limit(routes.current_request)).as_dict()
