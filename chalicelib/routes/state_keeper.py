"""The State Keeper's queries: documents, files, a subject's documents, stats."""

from __future__ import annotations

from typing import Any

from chalice import BadRequestError, NotFoundError

from chalicelib import wiring
from chalicelib.ingest.file_outcomes import file_view
from chalicelib.routes.access import token_auth
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import query_params

routes = Routes(__name__)

DOCUMENT_FILTERS = {"state", "source", "since", "until", "limit", "next_token"}


@routes.route("/documents/{document_id}", methods=["GET"], authorizer=token_auth)
def get_document(document_id: str) -> dict[str, Any]:
    return wiring.state_queries().get_document(document_id)


@routes.route("/documents", methods=["GET"], authorizer=token_auth)
def list_documents() -> dict[str, Any]:
    params = query_params(routes.current_request)
    unknown = set(params) - DOCUMENT_FILTERS
    if unknown:
        raise BadRequestError(f"unknown query parameters: {', '.join(sorted(unknown))}")
    return wiring.state_queries().list_documents(
        params.get("state"),
        params.get("source"),
        params.get("since"),
        params.get("until"),
        params.get("limit"),
        params.get("next_token"),
    )


@routes.route("/files/{file_id}", methods=["GET"], authorizer=token_auth)
def get_file(file_id: str) -> dict[str, Any]:
    states = wiring.state_queries().file_outcome(file_id)
    outcome = wiring.file_outcomes().get(file_id)
    if outcome is None and not states["documents"]:
        raise NotFoundError("no file with this id was ingested")
    return file_view(states, outcome)


@routes.route("/subjects/{subject_id}/documents", methods=["GET"], authorizer=token_auth)
def subject_documents(subject_id: str) -> dict[str, Any]:
    return wiring.state_queries().subject_documents(subject_id)


@routes.route("/stats", methods=["GET"], authorizer=token_auth)
def stats() -> dict[str, Any]:
    params = query_params(routes.current_request)
    return wiring.state_queries().stats(params.get("since"), params.get("until"))
