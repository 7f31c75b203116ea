"""The one table from domain exception to HTTP answer, applied to every route by `Routes`.

A view raises the domain's own exception; `Routes.route` registers the view wrapped in
`answering_domain_errors`, which looks the exception's class (or its nearest listed base)
up here. An exception not in the table is left to Chalice: a 500 that echoes nothing.
Messages are the exceptions' own, which never carry personal data (ids, names, counts).
The body is Chalice's error shape, `{"Code": ..., "Message": ...}`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from chalice import Blueprint, Response

from chalicelib.anonymization.exceptions import (
    InvalidRetentionPolicy,
    UnknownAnonymizationRun,
    UnknownRetentionPolicy,
)
from chalicelib.auth.exceptions import InvalidAuditQuery, InvalidTokenRequest, NoSuchToken
from chalicelib.console.exceptions import UnknownAsset
from chalicelib.erasure.exceptions import (
    BatchTooLarge,
    InvalidErasureRequest,
    JobNotRunning,
    UnknownErasureRequest,
)
from chalicelib.ingest.exceptions import UnknownFile, UnsupportedUpload, UploadTooLarge
from chalicelib.intake.exceptions import InvalidSourceSettings, UnknownIntakeSource
from chalicelib.normalize.exceptions import InvalidMapping, UnknownMapping, UnknownSource
from chalicelib.routes.access import guarded
from chalicelib.routes.roles import ROUTE_RULES, Rule, rule_of
from chalicelib.sap.exceptions import InvalidThrottleSettings
from chalicelib.state_keeper.exceptions import InvalidQuery, UnknownDocument

BAD_REQUEST = (400, "BadRequestError")  # the codes Chalice's BadRequestError and NotFoundError give
NOT_FOUND = (404, "NotFoundError")
CONFLICT = (409, "ConflictError")
PAYLOAD_TOO_LARGE = (413, "PayloadTooLarge")

ERRORS: dict[type[Exception], tuple[int, str]] = {
    # ingest: POST /ingest/{source}
    UnknownSource: BAD_REQUEST,
    UnsupportedUpload: BAD_REQUEST,
    UploadTooLarge: PAYLOAD_TOO_LARGE,
    UnknownFile: NOT_FOUND,
    # mappings: /sources/{name}/mapping
    InvalidMapping: BAD_REQUEST,
    UnknownMapping: NOT_FOUND,
    # intake: /sources (webhook refusals are answered and counted by routes/hooks.py)
    UnknownIntakeSource: NOT_FOUND,
    InvalidSourceSettings: BAD_REQUEST,
    # the State Keeper: /documents, /files, /subjects, /stats
    InvalidQuery: BAD_REQUEST,
    UnknownDocument: NOT_FOUND,
    # SAP: PUT /sap/throttle
    InvalidThrottleSettings: BAD_REQUEST,
    # erasure: /gdpr/erasure-requests, /gdpr/erasure-jobs
    InvalidErasureRequest: BAD_REQUEST,
    BatchTooLarge: PAYLOAD_TOO_LARGE,
    UnknownErasureRequest: NOT_FOUND,
    JobNotRunning: CONFLICT,
    # anonymization: /gdpr/retention-policies, /gdpr/anonymization-runs
    InvalidRetentionPolicy: BAD_REQUEST,
    UnknownRetentionPolicy: NOT_FOUND,
    UnknownAnonymizationRun: NOT_FOUND,
    # tokens and the audit log: /tokens, /audit
    InvalidTokenRequest: BAD_REQUEST,
    NoSuchToken: NOT_FOUND,
    InvalidAuditQuery: BAD_REQUEST,
    # the console's files: /console/{name}
    UnknownAsset: NOT_FOUND,
}

View = Callable[..., Any]


def error_response(error: Exception) -> Response | None:
    """The answer to a domain error from the table; None when its class is not listed."""
    for cls in type(error).__mro__:
        if cls in ERRORS:
            status, code = ERRORS[cls]
            return Response(status_code=status, body={"Code": code, "Message": str(error)})
    return None


def answering_domain_errors(view: View) -> View:
    @functools.wraps(view)
    def answered(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as error:
            response = error_response(error)
            if response is None:
                raise
            return response

    return answered


class Routes(Blueprint):
    """A Blueprint whose every route answers domain errors from `ERRORS` (and nowhere else),
    checks the caller's role and audits what its rule says.

    A Chalice HTTP middleware cannot do this: Chalice turns any exception a view raises
    into its 500 before middleware sees the response.
    """

    def __init__(self, import_name: str, rules: Mapping[tuple[str, str], Rule] = ROUTE_RULES) -> None:
        super().__init__(import_name)
        self.rules = rules

    def route(self, path: str, **kwargs: Any) -> Callable[[View], View]:
        """Also checks the route's role and audits it (`access.guarded`); a route missing
        from the rules (`roles.ROUTE_RULES`) is refused here, at import."""
        register = super().route(path, **kwargs)
        rules = {method.upper(): rule_of(method.upper(), path, self.rules) for method in kwargs.get("methods", ["GET"])}

        def decorator(view: View) -> View:
            register(guarded(self, path, rules, answering_domain_errors(view)))
            return view

        return decorator
