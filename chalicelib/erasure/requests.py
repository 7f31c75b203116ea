"""Erasure requests and the jobs that batch them, kept in the config table.

A request holds a pseudonymous subject id, never an email: `parse_erasure_request`
turns an email into the subject id at once and drops it. Pending requests wait under one
partition (`gdpr-pending`) until a job takes them, so one scan of the lake serves many.

Items (config table, `pk`/`sk`):
- `gdpr-request#{id}` / `request`: subject_id, status, job_id, created_at, updated_at, report
- `gdpr-pending` / `{created_at}#{id}`: a request waiting for a job
- `gdpr-job#{id}` / `job`: request_ids, subject_ids, status, created_at, updated_at, report
- `gdpr-job-lock` / `lock`: the job that runs now (one at a time), since when; a job's
  end (`finish_job`) releases it
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from chalicelib.erasure.exceptions import InvalidErasureRequest, InvalidTransition, UnknownErasureRequest

# -- states -------------------------------------------------------------------------------

PENDING, IN_JOB, DONE, FAILED = "PENDING", "IN_JOB", "DONE", "FAILED"
REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({IN_JOB}),
    IN_JOB: frozenset({DONE, FAILED, PENDING}),  # PENDING: the job could not start
    FAILED: frozenset({PENDING}),  # an operator's retry
    DONE: frozenset(),
}
JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED = "RUNNING", "DONE", "FAILED", "CANCELLED"
JOB_TRANSITIONS: dict[str, frozenset[str]] = {
    JOB_RUNNING: frozenset({JOB_DONE, JOB_FAILED, JOB_CANCELLED}),  # CANCELLED: an operator stopped it
    JOB_DONE: frozenset(),
    JOB_FAILED: frozenset(),
    JOB_CANCELLED: frozenset(),
}

SUBJECT_ID = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
REQUEST_ID = re.compile(r"^er-[0-9a-f]{32}$")


# -- the API body -------------------------------------------------------------------------


class ErasureRequestBody(BaseModel):
    """POST /gdpr/erasure-requests: exactly one of `email` and `subject_id`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str | None = None
    subject_id: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ErasureRequestBody:
        if (self.email is None) == (self.subject_id is None):
            raise ValueError("give exactly one of email and subject_id")
        return self


def parse_erasure_request(body: Any, subject_id_of_email: Callable[[str], str]) -> str:
    """The pseudonymous subject id an API body names; errors never echo the input."""
    if not isinstance(body, dict):
        raise InvalidErasureRequest("the body must be a JSON object with email or subject_id")
    try:
        parsed = ErasureRequestBody.model_validate(body)
    except ValidationError as error:
        problems = sorted(
            {
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {_safe_message(e)}"
                for e in error.errors(include_input=False, include_url=False)
            }
        )
        raise InvalidErasureRequest("; ".join(problems)) from None
    if parsed.subject_id is not None:
        if not SUBJECT_ID.match(parsed.subject_id):
            raise InvalidErasureRequest("subject_id: must be 16 to 128 letters, digits, '-' or '_'")
        return parsed.subject_id
    email = parsed.email or ""
    if not _plausible_email(email):
        raise InvalidErasureRequest("email: not a valid email address")
    return subject_id_of_email(email)


def _safe_message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"].startswith("string"):
        return "must be a string"
    return str(error["msg"]).removeprefix("Value error, ")


def _plausible_email(value: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


# -- records ------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat()


def new_request_id() -> str:
    return f"er-{uuid.uuid4().hex}"


def new_job_id() -> str:
    return f"ej-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class ErasureRequest:
    request_id: str
    subject_id: str
    status: str = PENDING
    created_at: str = field(default_factory=_now)
    updated_at: str = ""
    job_id: str | None = None
    report: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        """What GET /gdpr/erasure-requests/{id} shows."""
        return {
            "request_id": self.request_id,
            "subject_id": self.subject_id,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "job_id": self.job_id,
            "report": self.report,
        }


@dataclass
class ErasureJob:
    job_id: str
    request_ids: list[str]
    subject_ids: list[str]
    status: str = JOB_RUNNING
    created_at: str = field(default_factory=_now)
    updated_at: str = ""
    report: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobLock:
    """The one running job's hold: taken before its requests are batched, released at its end."""

    job_id: str
    since: datetime


class ErasureRequests(Protocol):
    def create(self, subject_id: str) -> ErasureRequest: ...

    def get(self, request_id: str) -> ErasureRequest: ...

    def pending(self, limit: int) -> list[ErasureRequest]: ...

    def move(
        self, request_id: str, to: str, *, job_id: str | None = None, report: dict[str, Any] | None = None
    ) -> None:
        """Change a request's status as `REQUEST_TRANSITIONS` allow; else `InvalidTransition`."""

    def save_job(self, job: ErasureJob) -> None: ...

    def get_job(self, job_id: str) -> ErasureJob: ...

    def finish_job(self, job_id: str, status: str, report: dict[str, Any]) -> None:
        """End a job as `JOB_TRANSITIONS` allow, and release the job lock if it holds it."""

    def job_lock(self) -> JobLock | None:
        """Which job holds the one-job-at-a-time lock, if any."""

    def take_job_lock(self, job_id: str, replacing: str | None = None) -> bool:
        """Take the lock for `job_id` (over `replacing`'s stale hold); False if another holds it."""

    def release_job_lock(self, job_id: str) -> None:
        """Release the lock if `job_id` holds it."""


_LOCK_KEY = {"pk": {"S": "gdpr-job-lock"}, "sk": {"S": "lock"}}


def _allowed(transitions: dict[str, frozenset[str]], to: str) -> list[str]:
    return [state for state, targets in transitions.items() if to in targets]


class InMemoryErasureRequests:
    def __init__(self) -> None:
        self.requests: dict[str, ErasureRequest] = {}
        self.jobs: dict[str, ErasureJob] = {}
        self.lock: JobLock | None = None

    def create(self, subject_id: str) -> ErasureRequest:
        request = ErasureRequest(new_request_id(), subject_id)
        self.requests[request.request_id] = request
        return request

    def get(self, request_id: str) -> ErasureRequest:
        if request_id not in self.requests:
            raise UnknownErasureRequest(f"no erasure request {request_id}")
        return self.requests[request_id]

    def pending(self, limit: int) -> list[ErasureRequest]:
        waiting = sorted((r for r in self.requests.values() if r.status == PENDING), key=lambda r: r.created_at)
        return waiting[:limit]

    def move(
        self, request_id: str, to: str, *, job_id: str | None = None, report: dict[str, Any] | None = None
    ) -> None:
        request = self.get(request_id)
        if request.status not in _allowed(REQUEST_TRANSITIONS, to):
            raise InvalidTransition(f"request {request_id}: {request.status} -> {to} is not allowed")
        request.status, request.updated_at = to, _now()
        if job_id is not None:
            request.job_id = job_id
        if report is not None:
            request.report = report

    def save_job(self, job: ErasureJob) -> None:
        self.jobs[job.job_id] = job

    def get_job(self, job_id: str) -> ErasureJob:
        if job_id not in self.jobs:
            raise UnknownErasureRequest(f"no erasure job {job_id}")
        return self.jobs[job_id]

    def finish_job(self, job_id: str, status: str, report: dict[str, Any]) -> None:
        job = self.get_job(job_id)
        if job.status not in _allowed(JOB_TRANSITIONS, status):
            raise InvalidTransition(f"job {job_id}: {job.status} -> {status} is not allowed")
        job.status, job.report, job.updated_at = status, report, _now()
        self.release_job_lock(job_id)

    def job_lock(self) -> JobLock | None:
        return self.lock

    def take_job_lock(self, job_id: str, replacing: str | None = None) -> bool:
        if (self.lock.job_id if self.lock else None) != replacing:
            return False
        self.lock = JobLock(job_id, datetime.now(UTC))
        return True

    def release_job_lock(self, job_id: str) -> None:
        if self.lock is not None and self.lock.job_id == job_id:
            self.lock = None


class DynamoErasureRequests:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    @staticmethod
    def _request_key(request_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"gdpr-request#{request_id}"}, "sk": {"S": "request"}}

    @staticmethod
    def _job_key(job_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"gdpr-job#{job_id}"}, "sk": {"S": "job"}}

    @staticmethod
    def _pending_key(request: ErasureRequest) -> dict[str, Any]:
        return {"pk": {"S": "gdpr-pending"}, "sk": {"S": f"{request.created_at}#{request.request_id}"}}

    def create(self, subject_id: str) -> ErasureRequest:
        request = ErasureRequest(new_request_id(), subject_id)
        item = {
            **self._request_key(request.request_id),
            "subject_id": {"S": subject_id},
            "status": {"S": PENDING},
            "created_at": {"S": request.created_at},
            "updated_at": {"S": request.created_at},
        }
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {**self._pending_key(request), "request_id": {"S": request.request_id}},
                    }
                },
            ]
        )
        return request

    def get(self, request_id: str) -> ErasureRequest:
        item = self.client.get_item(
            TableName=self.table_name, Key=self._request_key(request_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise UnknownErasureRequest(f"no erasure request {request_id}")
        return ErasureRequest(
            request_id=request_id,
            subject_id=item["subject_id"]["S"],
            status=item["status"]["S"],
            created_at=item["created_at"]["S"],
            updated_at=item.get("updated_at", {}).get("S", ""),
            job_id=item.get("job_id", {}).get("S"),
            report=json.loads(item["report"]["S"]) if "report" in item else None,
        )

    def pending(self, limit: int) -> list[ErasureRequest]:
        items = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pending",
            ExpressionAttributeValues={":pending": {"S": "gdpr-pending"}},
            Limit=limit,
            ConsistentRead=True,
        ).get("Items", [])
        return [self.get(item["request_id"]["S"]) for item in items]

    def move(
        self, request_id: str, to: str, *, job_id: str | None = None, report: dict[str, Any] | None = None
    ) -> None:
        request = self.get(request_id)
        allowed = _allowed(REQUEST_TRANSITIONS, to)
        if request.status not in allowed:
            raise InvalidTransition(f"request {request_id}: {request.status} -> {to} is not allowed")
        names = {"#status": "status", "#updated": "updated_at"}
        values: dict[str, Any] = {":to": {"S": to}, ":from": {"S": request.status}, ":now": {"S": _now()}}
        sets = ["#status = :to", "#updated = :now"]
        if job_id is not None:
            names["#job"], values[":job"] = "job_id", {"S": job_id}
            sets.append("#job = :job")
        if report is not None:
            names["#report"], values[":report"] = "report", {"S": json.dumps(report, sort_keys=True)}
            sets.append("#report = :report")
        update = {
            "Update": {
                "TableName": self.table_name,
                "Key": self._request_key(request_id),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "#status = :from",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        pending = {"TableName": self.table_name, "Key": self._pending_key(request)}
        # the pending marker leaves with PENDING and comes back with it, in the same transaction
        extra = (
            [{"Delete": pending}]
            if request.status == PENDING
            else [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {**self._pending_key(request), "request_id": {"S": request_id}},
                    }
                }
            ]
            if to == PENDING
            else []
        )
        try:
            self.client.transact_write_items(TransactItems=[update, *extra])
        except self.client.exceptions.TransactionCanceledException as error:
            raise InvalidTransition(
                f"request {request_id} changed meanwhile; {request.status} -> {to} not applied"
            ) from error

    def save_job(self, job: ErasureJob) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                **self._job_key(job.job_id),
                "request_ids": {"L": [{"S": r} for r in job.request_ids]},
                "subject_ids": {"L": [{"S": s} for s in job.subject_ids]},
                "status": {"S": job.status},
                "created_at": {"S": job.created_at},
                "updated_at": {"S": job.updated_at or job.created_at},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_job(self, job_id: str) -> ErasureJob:
        item = self.client.get_item(TableName=self.table_name, Key=self._job_key(job_id), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            raise UnknownErasureRequest(f"no erasure job {job_id}")
        return ErasureJob(
            job_id=job_id,
            request_ids=[v["S"] for v in item["request_ids"]["L"]],
            subject_ids=[v["S"] for v in item["subject_ids"]["L"]],
            status=item["status"]["S"],
            created_at=item["created_at"]["S"],
            updated_at=item.get("updated_at", {}).get("S", ""),
            report=json.loads(item["report"]["S"]) if "report" in item else None,
        )

    def finish_job(self, job_id: str, status: str, report: dict[str, Any]) -> None:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._job_key(job_id),
                UpdateExpression="SET #status = :to, #report = :report, #updated = :now",
                ConditionExpression="#status IN ("
                + ", ".join(f":from{i}" for i, _ in enumerate(_allowed(JOB_TRANSITIONS, status)))
                + ")",
                ExpressionAttributeNames={"#status": "status", "#report": "report", "#updated": "updated_at"},
                ExpressionAttributeValues={
                    ":to": {"S": status},
                    ":report": {"S": json.dumps(report, sort_keys=True)},
                    ":now": {"S": _now()},
                    **{f":from{i}": {"S": s} for i, s in enumerate(_allowed(JOB_TRANSITIONS, status))},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise InvalidTransition(f"job {job_id} cannot move to {status}") from error
        self.release_job_lock(job_id)

    def job_lock(self) -> JobLock | None:
        item = self.client.get_item(TableName=self.table_name, Key=_LOCK_KEY, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return JobLock(item["job_id"]["S"], datetime.fromisoformat(item["since"]["S"]))

    def take_job_lock(self, job_id: str, replacing: str | None = None) -> bool:
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if replacing is None
            else {"ConditionExpression": "job_id = :old", "ExpressionAttributeValues": {":old": {"S": replacing}}}
        )
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={**_LOCK_KEY, "job_id": {"S": job_id}, "since": {"S": _now()}},
                **condition,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_job_lock(self, job_id: str) -> None:
        # another job's lock, or none, stays as it is
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.delete_item(
                TableName=self.table_name,
                Key=_LOCK_KEY,
                ConditionExpression="job_id = :job",
                ExpressionAttributeValues={":job": {"S": job_id}},
            )


def batch_pending_requests(
    requests: ErasureRequests, max_requests: int = 100, job_id: str | None = None
) -> ErasureJob | None:
    """Take up to `max_requests` pending requests into a new job (None when none waits).

    A request another batcher took meanwhile is skipped, never taken twice.
    """
    job_id = job_id or new_job_id()
    taken: list[ErasureRequest] = []
    for request in requests.pending(max_requests):
        try:
            requests.move(request.request_id, IN_JOB, job_id=job_id)
        except InvalidTransition:
            continue
        taken.append(request)
    if not taken:
        return None
    job = ErasureJob(job_id, [r.request_id for r in taken], sorted({r.subject_id for r in taken}))
    requests.save_job(job)
    return job
