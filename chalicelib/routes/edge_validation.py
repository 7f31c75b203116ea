"""Edge validation: query parameters and JSON bodies checked against the registry before a route runs.

A Chalice HTTP middleware (`app.register_middleware(validate_at_the_edge, "http")`), so route
functions need no change. A refused request gets 400 in Chalice's error shape, with `errors`
naming each refused field and what is wrong, never its value. What the models check is the
structure (types, required fields, bounds, patterns); the checks a domain model makes in its
own validators (a known time zone, a mapping's targets) are left to the route, which answers
them with the domain's message, as before. Raw bodies (uploads, webhooks) are never parsed here,
a body of another media type is left to Chalice (415), and a route without an entry passes.
A caller whose role may not call the route is not validated: the route answers 403 (and
audits it) before anything about the request is said. A refusal of an audited route is
audited too, as every outcome of a state-changing call is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from chalice import Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.auth.roles import allows
from chalicelib.routes.access import audit_refused, caller
from chalicelib.routes.openapi import OPERATIONS, Operation
from chalicelib.routes.roles import PUBLIC, ROUTE_RULES

# errors raised by a model's own validators: the domain's semantics, answered by the route
DOMAIN_ERROR_TYPES = {"value_error", "assertion_error"}

Problem = dict[str, str]


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "body"


def problems_of(model: type[BaseModel], data: Any, where: str) -> list[Problem]:
    """The structural problems of `data` as `model` reads it; [] when it fits (or only the domain objects)."""
    try:
        model.model_validate(data)
    except ValidationError as error:
        return [
            {"in": where, "field": _field(e["loc"]), "problem": e["msg"]}
            for e in error.errors(include_input=False, include_url=False, include_context=False)
            if e["type"] not in DOMAIN_ERROR_TYPES
        ]
    return []


def _json_body(request: Request) -> tuple[Any, bool]:
    """The parsed JSON body (None when empty) and whether it could be parsed."""
    raw = request.raw_body
    if not raw:
        return None, True
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False


def request_problems(operation: Operation, request: Request) -> list[Problem]:
    problems: list[Problem] = []
    if operation.path is not None:
        problems += problems_of(operation.path, dict(request.uri_params or {}), "path")
    if operation.query is not None:
        params: Mapping[str, str] = request.query_params or {}
        problems += problems_of(operation.query, {name: params[name] for name in params}, "query")
    content_type = request.headers.get("content-type", "application/json")
    if operation.body is not None and not operation.raw_body and content_type.startswith("application/json"):
        body, parsed = _json_body(request)
        if not parsed:
            problems.append({"in": "body", "field": "body", "problem": "not valid JSON"})
        else:
            problems += problems_of(operation.body, body, "body")
    return problems


def refused(problems: list[Problem]) -> Response:
    message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return Response(status_code=400, body={"Code": "BadRequestError", "Message": message, "errors": problems})


def edge_validation(
    operations: Mapping[tuple[str, str], Operation],
) -> Callable[[Request, Callable[[Request], Response]], Response]:
    """A middleware validating requests against `operations` (method, path template → operation)."""

    def validate(request: Request, get_response: Callable[[Request], Response]) -> Response:
        operation = operations.get((request.method, request.path))
        rule = ROUTE_RULES.get((request.method, request.path))
        if rule is not None and rule.role != PUBLIC and not allows(caller(request)["role"], rule.role):
            return get_response(request)  # the route's role check answers 403
        if operation is not None:
            problems = request_problems(operation, request)
            if problems:
                if rule is not None and rule.audited:
                    audit_refused(request, f"{request.method} {request.path}", 400)
                return refused(problems)
        return get_response(request)

    return validate


validate_at_the_edge = edge_validation(OPERATIONS)
