"""API tokens as a resource, and the audit log (both admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import BadRequestError, Response

from chalicelib import wiring
from chalicelib.auth.tokens import parse_token_request
from chalicelib.routes.access import AUTHORIZER_CACHE_SECONDS, token_auth
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import query_params

routes = Routes(__name__)

AUDIT_FILTERS = {"since", "until", "principal", "limit", "next_token"}


@routes.route("/tokens", methods=["POST"], authorizer=token_auth, content_types=["application/json"])
def create_token() -> Response:
    """`{"name", "role", "expires_in_days"}`: 201 with the token, shown this once."""
    request = parse_token_request(routes.current_request.json_body)
    created = wiring.token_store().create(request.name, request.role, request.expires_in_days)
    return Response(
        status_code=201,
        body={"token": created.token, **created.info.public(datetime.now(UTC))},
    )


@routes.route("/tokens", methods=["GET"], authorizer=token_auth)
def list_tokens() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"tokens": [info.public(now) for info in wiring.token_store().tokens()]}


@routes.route("/tokens/{token_id}", methods=["DELETE"], authorizer=token_auth)
def revoke_token(token_id: str) -> dict[str, Any]:
    """Revoke a token; the authorizer's cached answers end within `AUTHORIZER_CACHE_SECONDS`."""
    revoked = wiring.token_store().revoke(token_id)
    return {**revoked.public(datetime.now(UTC)), "refused_within_seconds": AUTHORIZER_CACHE_SECONDS}


@routes.route("/audit", methods=["GET"], authorizer=token_auth)
def audit() -> dict[str, Any]:
    """`?since=&until=&principal=` (a token id or name), newest first, `limit` and `next_token`."""
    params = query_params(routes.current_request)
    unknown = set(params) - AUDIT_FILTERS
    if unknown:
        raise BadRequestError(f"unknown query parameters: {', '.join(sorted(unknown))}")
    return wiring.audit_log().entries(
        params.get("since"), params.get("until"), params.get("principal"), params.get("limit"), params.get("next_token")
    )
