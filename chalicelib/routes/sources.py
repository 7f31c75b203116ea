"""The platform sources as a resource: their settings, cursors, counts and pulls."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib import wiring
from chalicelib.intake.catalogue import INTAKE_SOURCES, intake_source
from chalicelib.intake.exceptions import InvalidSourceSettings
from chalicelib.intake.source_states import settings_from
from chalicelib.routes.access import caller_name, token_auth
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import replay_limit

routes = Routes(__name__)


def describe(name: str) -> dict[str, Any]:
    """A source as `GET /sources` shows it: ids, settings, cursor and counts, no personal data."""
    source = intake_source(name)
    states = wiring.source_states()
    settings = states.settings(name)
    return {
        "name": source.name,
        "kind": "+".join(kind for kind, has in (("webhook", source.webhook), ("pull", source.pull)) if has),
        "raw_source": source.raw_source,
        "webhook": f"/hooks/{source.name}" if source.webhook else None,
        "secret": wiring.resources().secret(source.secret).name,
        "enabled": bool(settings and settings.enabled),
        "settings": None
        if settings is None
        else {
            "follow": list(settings.follow),
            "organization": settings.organization,
            "every_minutes": settings.every_minutes,
            "options": settings.options,
        },
        "cursor": states.cursor(name) if source.pull else None,
        "status": states.status(name),
    }


@routes.route("/sources", methods=["GET"], authorizer=token_auth)
def list_sources() -> dict[str, Any]:
    return {"sources": [describe(source.name) for source in INTAKE_SOURCES]}


@routes.route("/sources/{name}", methods=["GET"], authorizer=token_auth)
def get_source(name: str) -> dict[str, Any]:
    return describe(name)


@routes.route("/sources/{name}", methods=["PUT"], authorizer=token_auth)
def put_source(name: str) -> dict[str, Any]:
    """Enable or disable a source, set what it follows and how often it is pulled (admin)."""
    intake_source(name)
    body = routes.current_request.json_body
    if not isinstance(body, dict):
        raise InvalidSourceSettings("the body is a JSON object of settings")
    states = wiring.source_states()
    settings = settings_from(name, body, states.settings(name))
    states.put_settings(settings, caller_name(routes.current_request))
    return describe(name)


@routes.route("/sources/{name}/pulls", methods=["POST"], authorizer=token_auth)
def start_pull(name: str) -> Response:
    """Run a source's pull now; 202 with the run, whose status link says how it went."""
    run = wiring.source_pulls().start(name, trigger="api")
    wiring.start_source_pull(name, run.pull_id)
    return Response(status_code=202, body={**run.public(), "status": f"/sources/{name}/pulls/{run.pull_id}"})


@routes.route("/sources/{name}/pulls/{pull_id}", methods=["GET"], authorizer=token_auth)
def get_pull(name: str, pull_id: str) -> dict[str, Any]:
    intake_source(name)
    return wiring.source_states().pull_run(name, pull_id).public()


@routes.route("/sources/replay", methods=["POST"], authorizer=token_auth)
def replay_webhooks() -> dict[str, Any]:
    """Move parked webhook deliveries from the DLQ back to the webhook queue (`?limit=`)."""
    return {"replayed": wiring.replay_webhook_dead_letters(replay_limit(routes.current_request))}
