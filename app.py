"""The Data Engine: one Chalice app. This file is the routing table; logic lives in chalicelib."""
from __future__ import annotations

import logging
from typing import Any

from chalice import AuthResponse, BadRequestError, Chalice, ForbiddenError, NotFoundError, Response
from chalice.app import AuthRequest, S3Event, SQSEvent

from chalicelib import operations, wiring
from chalicelib.auth.exceptions import UnknownToken
from chalicelib.auth.tokens import bearer_token
from chalicelib.anonymization import api as policy_api
from chalicelib.erasure import api as erasure_api
from chalicelib.anonymization.run_records import run_recorded
from chalicelib.erasure.workflow import start_erasure_job
from chalicelib.anonymization.exceptions import InvalidRetentionPolicy, UnknownAnonymizationRun, UnknownRetentionPolicy
from chalicelib.erasure.exceptions import BatchTooLarge, InvalidErasureRequest, UnknownErasureRequest
from chalicelib.normalize.subject_ids import subject_id_of_email
from chalicelib.ingest.exceptions import IngestError, UploadTooLarge
from chalicelib.ingest.uploads import UPLOAD_CONTENT_TYPES, store_upload
from chalicelib.normalize.exceptions import UnknownSource
from chalicelib.normalize.sources import connector_for
from chalicelib.resources import APP_NAME, current
from chalicelib.sap import api as sap_api
from chalicelib.sap.exceptions import InvalidThrottleSettings
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
    chunks_parked = wiring.park_normalize_dead_letters()
    sap_parked = wiring.park_sap_dead_letters()
    watched = operations.watch_dead_letter_queues(resources, wiring.client("sqs"), wiring.mailer(),
                                                  notes=[chunks_parked.mail_section(), sap_parked.mail_section()])
    return {**watched, "normalize": chunks_parked.as_dict(), "sap": sap_parked.as_dict()}


@app.lambda_function(name="replay_normalize_dead_letters")
def replay_normalize_dead_letters(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"replayed": wiring.replay_normalize_dead_letters(int((event or {}).get("limit", 1000)))}


@app.lambda_function(name="replay_sap_dead_letters")
def replay_sap_dead_letters(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.replay_sap_dead_letters(int((event or {}).get("limit", 1000))).as_dict()


# -- SAP: throttle and replay -----------------------------------------------------------

@app.route("/sap/throttle", methods=["GET"], authorizer=token_auth)
def get_sap_throttle() -> dict[str, Any]:
    return sap_api.throttle_view(wiring.sap_throttle())


@app.route("/sap/throttle", methods=["PUT"], authorizer=token_auth)
def put_sap_throttle() -> dict[str, Any]:
    _require_admin("changing the SAP throttle")
    try:
        return sap_api.change_throttle(app.current_request.json_body, wiring.sap_throttle())
    except InvalidThrottleSettings as error:
        raise BadRequestError(str(error)) from None


@app.route("/ingest/replay", methods=["POST"], authorizer=token_auth)
def replay_normalize() -> dict[str, Any]:
    """Move parked chunks from the normalize DLQ back to the queue (`?limit=`, default 1000)."""
    _require_admin("replaying normalize dead letters")
    return {"replayed": wiring.replay_normalize_dead_letters(_replay_limit())}


def _replay_limit() -> int:
    limit = _params().get("limit", "1000")
    if not limit.isdigit() or not 1 <= int(limit) <= 10_000:
        raise BadRequestError("limit must be a whole number from 1 to 10000")
    return int(limit)


@app.route("/sap/replay", methods=["POST"], authorizer=token_auth)
def replay_sap() -> dict[str, Any]:
    """Move parked dispatch messages from the SAP DLQ back to the queue (`?limit=`, default 1000)."""
    _require_admin("replaying SAP dead letters")
    return wiring.replay_sap_dead_letters(_replay_limit()).as_dict()


# -- GDPR: erasure requests, retention policies, anonymization --------------------------

def _gdpr(call: Any, *args: Any) -> Any:
    """Run a GDPR call; domain errors become 400/404/413 here, and nowhere else."""
    try:
        return call(*args)
    except BatchTooLarge as error:
        return Response(status_code=413, body={"Code": "PayloadTooLarge", "Message": str(error)})
    except (InvalidErasureRequest, InvalidRetentionPolicy) as error:
        raise BadRequestError(str(error)) from None
    except (UnknownErasureRequest, UnknownRetentionPolicy, UnknownAnonymizationRun) as error:
        raise NotFoundError(str(error)) from None


def _principal() -> dict[str, str]:
    return app.current_request.context.get("authorizer") or {}


def _require_admin(action: str = "changing retention policies") -> str:
    principal = _principal()
    if principal.get("role") != "admin":
        raise ForbiddenError(f"{action} needs the admin role")
    return str(principal.get("principalId", "admin"))


@app.route("/gdpr/erasure-requests", methods=["POST"], authorizer=token_auth)
def create_erasure_requests() -> Response:
    """The email becomes the pseudonymous subject id at once; it is never stored or logged."""
    answer = _gdpr(erasure_api.submit_erasure_requests, app.current_request.json_body,
                   lambda email: subject_id_of_email(email, wiring.subject_key()), wiring.erasure_requests())
    return answer if isinstance(answer, Response) else Response(status_code=202, body=answer)


@app.route("/gdpr/erasure-requests/{request_id}", methods=["GET"], authorizer=token_auth)
def get_erasure_request(request_id: str) -> dict[str, Any]:
    return _gdpr(erasure_api.erasure_request, request_id, wiring.erasure_requests())


@app.route("/gdpr/erasure-jobs", methods=["POST"], authorizer=token_auth)
def start_erasure_job_now() -> Any:
    max_requests = _gdpr(erasure_api.max_requests_of, _params(), erasure_api.MAX_REQUESTS_PER_CALL)
    if isinstance(max_requests, Response):
        return max_requests
    started = start_erasure_job(wiring.erasure_requests(), wiring.client("stepfunctions"),
                                wiring.state_machine_arn("gdpr-erasure"), max_requests)
    return Response(status_code=202 if started["started"] else 200, body=started)


@app.route("/gdpr/retention-policies", methods=["GET"], authorizer=token_auth)
def list_retention_policies() -> dict[str, Any]:
    return policy_api.list_policies(wiring.retention_policies())


@app.route("/gdpr/retention-policies/{name}", methods=["GET"], authorizer=token_auth)
def get_retention_policy(name: str) -> dict[str, Any]:
    return _gdpr(lambda: policy_api.policy_view(name, wiring.retention_policies().get(name)))


@app.route("/gdpr/retention-policies/{name}", methods=["PUT"], authorizer=token_auth)
def put_retention_policy(name: str) -> Any:
    changed_by = _require_admin()
    return _gdpr(policy_api.put_policy, name, app.current_request.json_body, changed_by, wiring.retention_policies())


@app.route("/gdpr/retention-policies/{name}", methods=["DELETE"], authorizer=token_auth)
def delete_retention_policy(name: str) -> Response:
    _require_admin()
    _gdpr(wiring.retention_policies().delete, name)
    return Response(status_code=204, body="")


@app.route("/gdpr/anonymization-runs", methods=["POST"], authorizer=token_auth)
def start_anonymization_run() -> Response:
    """`?dry_run=true` counts what is due; a real run needs the admin role. 202: follow the link."""
    dry_run = _params().get("dry_run", "false").lower() in ("true", "1", "yes")
    if not dry_run:
        _require_admin("a real anonymization run")
    record = wiring.anonymization_runs().create(dry_run=dry_run, trigger="api")
    wiring.start_anonymization_run(record.run_id)
    return Response(status_code=202, body=record.public())


@app.route("/gdpr/anonymization-runs", methods=["GET"], authorizer=token_auth)
def list_anonymization_runs() -> dict[str, Any]:
    return {"runs": [run.public() for run in wiring.anonymization_runs().recent(20)]}


@app.route("/gdpr/anonymization-runs/{run_id}", methods=["GET"], authorizer=token_auth)
def get_anonymization_run(run_id: str) -> dict[str, Any]:
    return _gdpr(lambda: wiring.anonymization_runs().get(run_id).public())


@app.lambda_function(name="gdpr_anonymization_run")
def gdpr_anonymization_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A run the API recorded (`{"run_id"}`), carried out and recorded."""
    return run_recorded(wiring.anonymization_runs(), event["run_id"],
                        lambda dry_run: wiring.anonymization_run().run(dry_run=dry_run).as_dict()).public()


@app.schedule(resources.schedule("gdpr-erasure-batch").expression, name="gdpr_erasure_batch",
              description=resources.schedule("gdpr-erasure-batch").description)
def gdpr_erasure_batch(event: Any) -> dict[str, Any]:
    return start_erasure_job(wiring.erasure_requests(), wiring.client("stepfunctions"),
                             wiring.state_machine_arn("gdpr-erasure"), erasure_api.MAX_REQUESTS_PER_CALL)


@app.schedule(resources.schedule("gdpr-anonymization").expression, name="gdpr_anonymization",
              description=resources.schedule("gdpr-anonymization").description)
def gdpr_anonymization(event: Any) -> dict[str, Any]:
    record = wiring.anonymization_runs().create(dry_run=False, trigger="schedule")
    return run_recorded(wiring.anonymization_runs(), record.run_id,
                        lambda dry_run: wiring.anonymization_run().run(dry_run=dry_run).as_dict()).public()


# the erasure workflow's task states (chalicelib/erasure/state_machine.py names them)

@app.lambda_function(name="gdpr_find_objects")
def gdpr_find_objects(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().find(event, context)


@app.lambda_function(name="gdpr_rewrite_objects")
def gdpr_rewrite_objects(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().rewrite(event, context)


@app.lambda_function(name="gdpr_forget_subjects")
def gdpr_forget_subjects(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().forget(event, context)


@app.lambda_function(name="gdpr_erase_in_sap")
def gdpr_erase_in_sap(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().erase_in_sap(event, context)


@app.lambda_function(name="gdpr_verify_erasure")
def gdpr_verify_erasure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().verify(event, context)


@app.lambda_function(name="gdpr_report_job")
def gdpr_report_job(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return wiring.erasure_workflow().report(event, context)
