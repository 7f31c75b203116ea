"""The Data Engine: one Chalice app. This file is the routing table; logic lives in chalicelib."""
from __future__ import annotations

import logging
from typing import Any

from chalice import AuthResponse, BadRequestError, Chalice, NotFoundError, Response
from chalice.app import AuthRequest, S3Event, SQSEvent

from chalicelib import operations, wiring
from chalicelib.auth.exceptions import UnknownToken
from chalicelib.auth.tokens import bearer_token
from chalicelib.ingest.exceptions import IngestError, UploadTooLarge
from chalicelib.ingest.uploads import UPLOAD_CONTENT_TYPES, store_upload
from chalicelib.normalize.exceptions import UnknownSource
from chalicelib.normalize.sources import connector_for
from chalicelib.resources import APP_NAME, current
from chalicelib.state_keeper.exceptions import InvalidQuery, UnknownDocument

app = Chalice(app_name=APP_NAME)
app.api.binary_types.extend(["application/gzip", "application/x-gzip", "multipart/form-data"])
log = logging.getLogger("data_engine")
log.setLevel(logging.INFO)
resources = current()


# -- authentication -------------------------------------------------------------------

@app.authorizer()
def token_auth(auth_request: AuthRequest) -> AuthResponse:
    try:
        principal = wiring.token_store().principal(bearer_token(auth_request.token))
    except UnknownToken:
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(routes=["*"], principal_id=principal.name, context={"role": principal.role})


# -- operations API -------------------------------------------------------------------

@app.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok", "app": APP_NAME, "stage": resources.stage}


@app.route("/queues", methods=["GET"], authorizer=token_auth)
def queues() -> dict[str, Any]:
    return {"queues": operations.queue_depths(resources, wiring.client("sqs"))}


# -- ingest over HTTPS ----------------------------------------------------------------

@app.route("/ingest/{source}", methods=["POST"], authorizer=token_auth,
           content_types=UPLOAD_CONTENT_TYPES)
def ingest_upload(source: str) -> Response:
    """A file or JSON body from a platform: stored in the raw bucket, processed from there."""
    try:
        connector_for(source)
        request = app.current_request
        upload = store_upload(source, request.headers.get("content-type", ""), request.raw_body,
                              resources.bucket("raw").name, wiring.client("s3"))
    except UploadTooLarge as error:
        return Response(status_code=413, body={"Code": "PayloadTooLarge", "Message": str(error)})
    except (UnknownSource, IngestError) as error:
        raise BadRequestError(str(error)) from None
    return Response(status_code=202, body={"file_id": upload.file_id, "bytes": upload.bytes,
                                           "status": f"/files/{upload.file_id}"})


# -- the State Keeper -----------------------------------------------------------------

def _state_query(query: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run a State Keeper query; a bad parameter is a 400, an unknown document a 404."""
    try:
        return query(*args, **kwargs)
    except InvalidQuery as error:
        raise BadRequestError(str(error)) from None
    except UnknownDocument as error:
        raise NotFoundError(str(error)) from None


def _params() -> dict[str, str]:
    return app.current_request.query_params or {}


@app.route("/documents/{document_id}", methods=["GET"], authorizer=token_auth)
def get_document(document_id: str) -> dict[str, Any]:
    return _state_query(wiring.state_queries().get_document, document_id)


@app.route("/documents", methods=["GET"], authorizer=token_auth)
def list_documents() -> dict[str, Any]:
    params = _params()
    unknown = set(params) - {"state", "source", "since", "until", "limit", "next_token"}
    if unknown:
        raise BadRequestError(f"unknown query parameters: {', '.join(sorted(unknown))}")
    return _state_query(wiring.state_queries().list_documents, params.get("state"), params.get("source"),
                        params.get("since"), params.get("until"), params.get("limit"), params.get("next_token"))


@app.route("/files/{file_id}", methods=["GET"], authorizer=token_auth)
def get_file(file_id: str) -> dict[str, Any]:
    states = _state_query(wiring.state_queries().file_outcome, file_id)
    outcome = wiring.file_outcomes().get(file_id)
    if outcome is None and not states["documents"]:
        raise NotFoundError("no file with this id was ingested")
    split = outcome.model_dump(mode="json", exclude={"file_id"}) if outcome else None
    return {**states, "split": split}


@app.route("/subjects/{subject_id}/documents", methods=["GET"], authorizer=token_auth)
def subject_documents(subject_id: str) -> dict[str, Any]:
    return _state_query(wiring.state_queries().subject_documents, subject_id)


@app.route("/stats", methods=["GET"], authorizer=token_auth)
def stats() -> dict[str, Any]:
    params = _params()
    return _state_query(wiring.state_queries().stats, params.get("since"), params.get("until"))


# -- the pipeline ---------------------------------------------------------------------

@app.on_s3_event(bucket=resources.bucket("raw").name, prefix="incoming/",
                 events=["s3:ObjectCreated:*"])
def ingest_raw_object(event: S3Event) -> None:
    wiring.ingest().split_file(event.bucket, event.key)


@app.on_sqs_message(queue=resources.queue("normalize").name, batch_size=10)
def normalize_chunks(event: SQSEvent) -> dict[str, Any]:
    return wiring.normalizer().handle([record.to_dict() for record in event])


@app.on_sqs_message(queue=resources.queue("state-changes").name, batch_size=10,
                    maximum_batching_window_in_seconds=1)
def keep_state(event: SQSEvent) -> dict[str, Any]:
    return wiring.state_keeper().handle([record.to_dict() for record in event])


@app.on_sqs_message(queue=resources.queue("sap-dispatch").name, batch_size=10,
                    maximum_concurrency=2)
def dispatch_to_sap(event: SQSEvent) -> dict[str, Any]:
    return wiring.dispatcher().handle([record.to_dict() for record in event])


@app.schedule(resources.schedule("dlq-watch").expression, name="dlq_watch",
              description=resources.schedule("dlq-watch").description)
def dlq_watch(event: Any) -> dict[str, Any]:
    return operations.watch_dead_letter_queues(resources, wiring.client("sqs"), wiring.mailer())
