"""Who may call what: the bearer-token authorizer, each route's role check, and the audit hook.

The authorizer finds the token's principal (unknown, revoked and expired tokens get no
route) and hands the routes its id, name and role in the request context. `guarded` wraps
every route `Routes` registers: it answers 403 when the role is less than the route's
rule (`roles.py`) and appends an audit entry for audited routes whatever the outcome.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice import AuthResponse, Blueprint, ChaliceViewError, Response
from chalice.app import AuthRequest, Request

from chalicelib import wiring
from chalicelib.auth.audit import AuditEntry
from chalicelib.auth.exceptions import UnknownToken
from chalicelib.auth.roles import allows
from chalicelib.auth.tokens import bearer_token
from chalicelib.routes.roles import PUBLIC, Rule

log = logging.getLogger(__name__)
authentication = Blueprint(__name__)

# API Gateway caches an authorizer's answer per token; a revoked or expired token keeps
# working until its cached answer expires (API Gateway's default is 300 s), so it is short.
AUTHORIZER_CACHE_SECONDS = 30

# ids a view adds to its audit entry (e.g. the subject id an email became)
_NOTED: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("audit_targets", default=None)
# ids a created resource's answer names, recorded as targets
_ANSWER_IDS = ("id", "token_id", "request_id", "job_id", "run_id", "pull_id", "file_id", "document_id", "subject_id")

View = Callable[..., Any]


@authentication.authorizer(ttl_seconds=AUTHORIZER_CACHE_SECONDS)
def token_auth(auth_request: AuthRequest) -> AuthResponse:
    store = wiring.token_store()
    try:
        principal = store.principal(bearer_token(auth_request.token))
    except UnknownToken:
        return AuthResponse(routes=[], principal_id="anonymous")
    try:
        store.record_use(principal)
    except Exception as error:  # noqa: BLE001 - a missed last-used mark must not refuse the call
        log.warning("could not record the last use of token %s: %s", principal.token_id, type(error).__name__)
    return AuthResponse(
        routes=["*"],
        principal_id=principal.name,
        context={"role": principal.role, "token_id": principal.token_id, "name": principal.name},
    )


def caller(request: Request) -> dict[str, str]:
    """The calling token's id, name and role, as the authorizer gave them."""
    context = request.context.get("authorizer") or {}
    return {
        "token_id": str(context.get("token_id", "")),
        "name": str(context.get("name") or context.get("principalId", "")),
        "role": str(context.get("role", "")),
    }


def caller_name(request: Request) -> str:
    return caller(request)["name"]


def note_targets(**ids: Any) -> None:
    """Add ids to the current call's audit entry (never a personal value: ids only)."""
    noted = _NOTED.get()
    if noted is not None:
        noted.update(ids)


def forbidden(route: str, needed: str, role: str) -> Response:
    return Response(
        status_code=403,
        body={
            "Code": "ForbiddenError",
            "Message": f"{route} needs the {needed} role; this token has {role or 'no role'}",
            "needed_role": needed,
        },
    )


def _answer_ids(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    found = {key: body[key] for key in _ANSWER_IDS if isinstance(body.get(key), str)}
    if isinstance(body.get("requests"), list):  # a batch of erasure requests
        found["request_ids"] = [r["request_id"] for r in body["requests"] if isinstance(r, dict) and "request_id" in r]
    return found


def _status(result: Any) -> int:
    return result.status_code if isinstance(result, Response) else 200


def _request_id(request: Request) -> str:
    given = request.context.get("requestId")
    return str(given) if given else uuid.uuid4().hex


def guarded(blueprint: Blueprint, path: str, rules: dict[str, Rule], view: View) -> View:
    """`view` with its role checked and, when its rule says so, its call audited."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        request = blueprint.current_request
        method = request.method.upper()
        rule = rules[method]
        if rule.role == PUBLIC:
            return view(*args, **kwargs)
        route = f"{method} {path}"
        who = caller(request)
        if not rule.audited:
            if not allows(who["role"], rule.role):
                return forbidden(route, rule.role, who["role"])
            return view(*args, **kwargs)
        noted: dict[str, Any] = dict(request.uri_params or {})
        token = _NOTED.set(noted)
        status = 500
        try:
            if not allows(who["role"], rule.role):
                result: Any = forbidden(route, rule.role, who["role"])
            else:
                result = view(*args, **kwargs)
            status = _status(result)
            if status < 300:
                noted.update({k: v for k, v in _answer_ids(getattr(result, "body", result)).items() if k not in noted})
            return result
        except ChaliceViewError as error:
            status = error.STATUS_CODE
            raise
        finally:
            _NOTED.reset(token)
            _audit(
                AuditEntry(datetime.now(UTC), _request_id(request), **who, route=route, status=status, targets=noted)
            )

    return checked


def audit_refused(request: Request, route: str, status: int) -> None:
    """An audited route's call refused before it ran (the edge's 400): its entry, targets from the path."""
    _audit(
        AuditEntry(
            datetime.now(UTC),
            _request_id(request),
            **caller(request),
            route=route,
            status=status,
            targets=dict(request.uri_params or {}),
        )
    )


def _audit(entry: AuditEntry) -> None:
    try:
        wiring.audit_log().append(entry)
    except Exception as error:  # noqa: BLE001 - the call is done; its answer must still go out
        log.error("audit entry of %s (%s) not written: %s", entry.route, entry.request_id, type(error).__name__)
