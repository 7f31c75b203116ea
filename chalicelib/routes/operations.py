"""Operations: is the app up, how deep are its queues; failed asynchronous runs invoked again."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalicelib import operations, wiring
from chalicelib.resources import APP_NAME, current
from chalicelib.routes.access import token_auth
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import replay_limit

routes = Routes(__name__)
resources = current()


@routes.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok", "app": APP_NAME, "stage": resources.stage}


@routes.route("/queues", methods=["GET"], authorizer=token_auth)
def queues() -> dict[str, Any]:
    return {"queues": operations.queue_depths(resources, wiring.client("sqs"))}


@routes.route("/async-failures/replay", methods=["POST"], authorizer=token_auth)
def replay_async_failures() -> dict[str, Any]:
    """Invoke the events of failed asynchronous runs again (`?limit=`, default 1000): an S3
    event whose file could not be split, a pull or schedule run that failed its retries."""
    return asdict(wiring.replay_async_failures(replay_limit(routes.current_request)))
