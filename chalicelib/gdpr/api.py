"""What the GDPR routes do, apart from HTTP: parse, call the domain, shape the answer.

`app.py` maps this module's errors (`chalicelib.gdpr.exceptions`) to HTTP statuses in one
place. Nothing here echoes an email: it becomes the pseudonymous subject id at once.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from chalicelib.gdpr.anonymize import RetentionPolicy
from chalicelib.gdpr.erasure_requests import REQUEST_ID, ErasureRequests, parse_erasure_request
from chalicelib.gdpr.exceptions import BatchTooLarge, InvalidErasureRequest, InvalidRetentionPolicy, UnknownErasureRequest
from chalicelib.gdpr.retention_policies import RetentionPolicies, check_name

MAX_REQUESTS_PER_CALL = 100  # one job's worth; more is a 413, not a partial success
MAX_REQUESTS_PER_JOB = 1000


def submit_erasure_requests(body: Any, subject_id_of_email: Callable[[str], str],
                            requests: ErasureRequests) -> dict[str, Any]:
    """One request (`{"email"}` or `{"subject_id"}`) or many (`{"requests": [...]}`).

    Every item is parsed before any is stored: a bad item refuses the whole call.
    """
    if isinstance(body, dict) and "requests" in body:
        if set(body) != {"requests"} or not isinstance(body["requests"], list) or not body["requests"]:
            raise InvalidErasureRequest("requests: must be a non-empty list of {email} or {subject_id}")
        items = body["requests"]
        if len(items) > MAX_REQUESTS_PER_CALL:
            raise BatchTooLarge(f"at most {MAX_REQUESTS_PER_CALL} requests per call, got {len(items)}")
    else:
        items = [body]
    subjects = []
    for index, item in enumerate(items):
        try:
            subjects.append(parse_erasure_request(item, subject_id_of_email))
        except InvalidErasureRequest as error:
            prefix = f"requests[{index}]: " if len(items) > 1 or body is not item else ""
            raise InvalidErasureRequest(f"{prefix}{error}") from None
    created = [requests.create(subject) for subject in subjects]
    answers = [{"request_id": r.request_id, "status": r.status,
                "links": {"self": f"/gdpr/erasure-requests/{r.request_id}"}} for r in created]
    return answers[0] if body is items[0] else {"requests": answers}


def erasure_request(request_id: str, requests: ErasureRequests) -> dict[str, Any]:
    if not REQUEST_ID.match(request_id):
        raise UnknownErasureRequest("no erasure request with this id")
    return requests.get(request_id).public()


def max_requests_of(params: dict[str, str], default: int) -> int:
    value = params.get("max_requests")
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_REQUESTS_PER_JOB:
        raise InvalidErasureRequest(f"max_requests: must be a whole number from 1 to {MAX_REQUESTS_PER_JOB}")
    return int(value)


def parse_policy(body: Any) -> RetentionPolicy:
    if not isinstance(body, dict):
        raise InvalidRetentionPolicy("the body must be a JSON object (a retention policy)")
    try:
        return RetentionPolicy.model_validate(body)
    except ValidationError as error:
        problems = sorted({f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                           for e in error.errors(include_input=False, include_url=False)})
        raise InvalidRetentionPolicy("; ".join(problems)) from None


def policy_view(name: str, policy: RetentionPolicy) -> dict[str, Any]:
    return {"name": name, "policy_id": policy.policy_id, **policy.model_dump(mode="json", exclude_none=True)}


def list_policies(policies: RetentionPolicies) -> dict[str, Any]:
    return {"policies": [policy_view(name, policy) for name, policy in policies.all().items()]}


def put_policy(name: str, body: Any, changed_by: str, policies: RetentionPolicies) -> dict[str, Any]:
    check_name(name)
    policy = parse_policy(body)
    policies.put(name, policy, changed_by)
    return policy_view(name, policy)
