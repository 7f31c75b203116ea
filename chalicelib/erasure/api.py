"""Erasure request intake, apart from HTTP: parse the body, store the requests, shape the answer.

Nothing here echoes an email: it becomes the pseudonymous subject id at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import observability
from chalicelib.erasure.exceptions import BatchTooLarge, InvalidErasureRequest, UnknownErasureRequest
from chalicelib.erasure.requests import REQUEST_ID, ErasureRequests, parse_erasure_request

MAX_REQUESTS_PER_CALL = 100  # one job's worth; more is a 413, not a partial success
MAX_REQUESTS_PER_JOB = 1000


def submit_erasure_requests(
    body: Any, subject_id_of_email: Callable[[str], str], requests: ErasureRequests
) -> dict[str, Any]:
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
    observability.count("ErasureRequests", len(created))
    answers = [
        {"request_id": r.request_id, "status": r.status, "links": {"self": f"/gdpr/erasure-requests/{r.request_id}"}}
        for r in created
    ]
    return answers[0] if body is items[0] else {"requests": answers}


def erasure_request(request_id: str, requests: ErasureRequests) -> dict[str, Any]:
    if not REQUEST_ID.match(request_id):
        raise UnknownErasureRequest("no erasure request with this id")
    return requests.get(request_id).public()


def max_requests_of(params: Mapping[str, str], default: int) -> int:
    value = params.get("max_requests")
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_REQUESTS_PER_JOB:
        raise InvalidErasureRequest(f"max_requests: must be a whole number from 1 to {MAX_REQUESTS_PER_JOB}")
    return int(value)
