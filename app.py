"""The Data Engine: one Chalice app. This file is the routing table; logic lives in chalicelib."""
from __future__ import annotations

import logging
from typing import Any

from chalice import AuthResponse, Chalice
from chalice.app import AuthRequest, S3Event, SQSEvent

from chalicelib import operations, wiring
from chalicelib.auth.exceptions import UnknownToken
from chalicelib.auth.tokens import bearer_token
from chalicelib.resources import APP_NAME, current

app = Chalice(app_name=APP_NAME)
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
