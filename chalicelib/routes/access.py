"""Who may call: the bearer-token authorizer every route but `/health` names, and the admin check."""

from __future__ import annotations

from chalice import AuthResponse, Blueprint, ForbiddenError
from chalice.app import AuthRequest, Request

from chalicelib import wiring
from chalicelib.auth.exceptions import UnknownToken
from chalicelib.auth.tokens import bearer_token

authentication = Blueprint(__name__)

# API Gateway caches an authorizer's answer per token; a revoked token keeps working until
# its cached answer expires (API Gateway's default is 300 s), so the cache is kept short.
AUTHORIZER_CACHE_SECONDS = 30


@authentication.authorizer(ttl_seconds=AUTHORIZER_CACHE_SECONDS)
def token_auth(auth_request: AuthRequest) -> AuthResponse:
    try:
        principal = wiring.token_store().principal(bearer_token(auth_request.token))
    except UnknownToken:
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(routes=["*"], principal_id=principal.name, context={"role": principal.role})


def require_admin(request: Request, action: str) -> str:
    """The caller's name, if the authorizer gave them the admin role; 403 otherwise."""
    principal = request.context.get("authorizer") or {}
    if principal.get("role") != "admin":
        raise ForbiddenError(f"{action} needs the admin role")
    return str(principal.get("principalId", "admin"))
