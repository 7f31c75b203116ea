"""Operations: is the app up, how deep are its queues."""

from __future__ import annotations

from typing import Any

from chalicelib import operations, wiring
from chalicelib.resources import APP_NAME, current
from chalicelib.routes.access import token_auth
from chalicelib.routes.errors import Routes

routes = Routes(__name__)
resources = current()


@routes.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok", "app": APP_NAME, "stage": resources.stage}


@routes.route("/queues", methods=["GET"], authorizer=token_auth)
def queues() -> dict[str, Any]:
    return {"queues": operations.queue_depths(resources, wiring.client("sqs"))}
