"""GDPR: erasure requests and jobs, retention policies, anonymization runs."""

from __future__ import annotations

from typing import Any

from chalice import ConflictError, Response

from chalicelib import wiring
from chalicelib.anonymization import api as policy_api
from chalicelib.erasure import api as erasure_api
from chalicelib.erasure.workflow import start_erasure_job
from chalicelib.normalize.subject_ids import subject_id_of_email
from chalicelib.routes.access import caller_name, note_targets, token_auth
from chalicelib.routes.errors import Routes
from chalicelib.routes.params import query_params

routes = Routes(__name__)


@routes.route("/gdpr/erasure-requests", methods=["POST"], authorizer=token_auth)
def create_erasure_requests() -> Response:
    """The email becomes the pseudonymous subject id at once; it is never stored or logged
    (the audit entry names the subject ids)."""
    body = routes.current_request.json_body
    subjects: list[str] = []

    def subject_of(email: str) -> str:
        subjects.append(subject_id_of_email(email, wiring.subject_key()))
        return subjects[-1]

    answer = erasure_api.submit_erasure_requests(body, subject_of, wiring.erasure_requests())
    items = body.get("requests", [body]) if isinstance(body, dict) else []
    given = [item["subject_id"] for item in items if isinstance(item, dict) and isinstance(item.get("subject_id"), str)]
    note_targets(subject_ids=[*subjects, *given])
    return Response(status_code=202, body=answer)


@routes.route("/gdpr/erasure-requests/{request_id}", methods=["GET"], authorizer=token_auth)
def get_erasure_request(request_id: str) -> dict[str, Any]:
    return erasure_api.erasure_request(request_id, wiring.erasure_requests())


@routes.route("/gdpr/erasure-jobs", methods=["POST"], authorizer=token_auth)
def start_erasure_job_now() -> Response:
    max_requests = erasure_api.max_requests_of(query_params(routes.current_request), erasure_api.MAX_REQUESTS_PER_CALL)
    started = start_erasure_job(
        wiring.erasure_requests(),
        wiring.client("stepfunctions"),
        wiring.state_machine_arn("gdpr-erasure"),
        max_requests,
    )
    if started.get("running_job"):
        raise ConflictError(f"erasure job {started['running_job']} is running; one job runs at a time")
    return Response(status_code=202 if started["started"] else 200, body=started)


@routes.route("/gdpr/erasure-jobs/{job_id}/cancel", methods=["POST"], authorizer=token_auth)
def cancel_erasure_job(job_id: str) -> dict[str, Any]:
    """Stop a running job between objects; its requests wait for the next job; what was done."""
    return wiring.erasure_workflow().cancel(
        job_id, wiring.client("stepfunctions"), wiring.state_machine_arn("gdpr-erasure")
    )


@routes.route("/gdpr/retention-policies", methods=["GET"], authorizer=token_auth)
def list_retention_policies() -> dict[str, Any]:
    return policy_api.list_policies(wiring.retention_policies())


@routes.route("/gdpr/retention-policies/{name}", methods=["GET"], authorizer=token_auth)
def get_retention_policy(name: str) -> dict[str, Any]:
    return policy_api.policy_view(name, wiring.retention_policies().get(name))


@routes.route("/gdpr/retention-policies/{name}", methods=["PUT"], authorizer=token_auth)
def put_retention_policy(name: str) -> dict[str, Any]:
    changed_by = caller_name(routes.current_request)
    return policy_api.put_policy(name, routes.current_request.json_body, changed_by, wiring.retention_policies())


@routes.route("/gdpr/retention-policies/{name}", methods=["DELETE"], authorizer=token_auth)
def delete_retention_policy(name: str) -> Response:
    wiring.retention_policies().delete(name)
    return Response(status_code=204, body="")


@routes.route("/gdpr/anonymization-runs", methods=["POST"], authorizer=token_auth)
def start_anonymization_run() -> Response:
    """`?dry_run=true` counts what is due. 202: follow the link."""
    dry_run = query_params(routes.current_request).get("dry_run", "false").lower() in ("true", "1", "yes")
    record = wiring.anonymization_runs().create(dry_run=dry_run, trigger="api")
    wiring.start_anonymization_run(record.run_id)
    return Response(status_code=202, body=record.public())


@routes.route("/gdpr/anonymization-runs", methods=["GET"], authorizer=token_auth)
def list_anonymization_runs() -> dict[str, Any]:
    return {"runs": [run.public() for run in wiring.anonymization_runs().recent(20)]}


@routes.route("/gdpr/anonymization-runs/{run_id}", methods=["GET"], authorizer=token_auth)
def get_anonymization_run(run_id: str) -> dict[str, Any]:
    return wiring.anonymization_runs().get(run_id).public()
