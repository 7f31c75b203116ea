"""The State Keeper's queries: documents, files, a subject's documents (by id or email), stats;
sending one parked or rejected document to SAP again; replaying state changes the State Keeper
could not record (its DLQ)."""

from __future__ import annotations

from typing import Any

from chalice import BadRequestError, ConflictError, NotFoundError, Response

from chalicelib import wiring
from chalicelib.ingest.file_outcomes import file_view
from chalicelib.normalize.subject_ids import subject_id_of_email
from chalicelib.routes.access import note_targets, token_auth
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import query_params, replay_limit

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


@routes.route("/subjects", methods=["GET"], authorizer=token_auth)
def find_subject() -> dict[str, Any]:
    """`?email=`: the subject's documents. The email becomes the subject id here, in memory;
    it is never stored, logged or echoed (the audit entry holds the subject id)."""
    params = query_params(routes.current_request)
    if set(params) != {"email"}:
        raise BadRequestError("give exactly one query parameter: email")
    try:
        subject_id = subject_id_of_email(params["email"], wiring.subject_key())
    except ValueError:
        raise BadRequestError("email: not a valid email address") from None
    note_targets(subject_id=subject_id)
    return wiring.state_queries().subject_documents(subject_id)


RETRIABLE = ("PARKED", "REJECTED_BY_SAP")


@routes.route("/documents/{document_id}/retry", methods=["POST"], authorizer=token_auth)
def retry_document(document_id: str) -> Response:
    """Send a PARKED or REJECTED_BY_SAP document to SAP again, alone (202; the dispatch ledger
    keeps SAP from getting it twice). A parked one goes from the SAP dead letter that holds it,
    as a replay would; a rejected one is read again from its raw file. 409 in any other state."""
    document = wiring.state_queries().get_document(document_id)
    state = document["state"]
    if state not in RETRIABLE:
        raise ConflictError(f"a {state} document is not retried; only {' and '.join(RETRIABLE)}")
    if state == "PARKED":
        if not wiring.retry_parked_document(document_id):
            raise ConflictError("no dead letter holds this document any more (replayed or final meanwhile)")
    else:
        refused = wiring.retry_rejected_document(document_id, str(document["file_id"]))
        if refused is not None:
            raise ConflictError(f"the document cannot be sent again: {refused}")
    return Response(
        status_code=202,
        body={"document_id": document_id, "requeued": True, "status": f"/documents/{document_id}"},
    )


@routes.route("/stats", methods=["GET"], authorizer=token_auth)
def stats() -> dict[str, Any]:
    params = query_params(routes.current_request)
    return wiring.state_queries().stats(params.get("since"), params.get("until"))


@routes.route("/state-changes/replay", methods=["POST"], authorizer=token_auth)
def replay_state_changes() -> dict[str, Any]:
    """Move state changes from the State Keeper's DLQ back to its queue (`?limit=`, default 1000)."""
    return {"replayed": wiring.replay_state_change_dead_letters(replay_limit(routes.current_request))}
