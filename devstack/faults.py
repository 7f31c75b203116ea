"""AWS misbehaving on purpose, at the emulator's door: throttling and 5xx, in each service's own shape.

A `FaultRule` names a service (and optionally operations), a kind — `throttle` (DynamoDB's
`ProvisionedThroughputExceededException` or `ThrottlingException`, SQS's and SES's
throttling, HTTP 400) or `5xx` (HTTP 500 or 503) — how often (`probability`, or every
`every`-th matching request) and for how long (`seconds` from when it was set). The door asks
`FaultRules.take` before moto sees a request; a hit is answered with the error body botocore
parses into the real error code, and counted (`counts()`). botocore's retries absorb some,
as they do in AWS. `POST /_devstack/faults` sets (`{"rules": [...]}`), clears
(`{"clear": true}`) and reads (`{}`) them.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

FaultKind = Literal["throttle", "5xx"]
SERVICES = ("dynamodb", "sqs", "s3", "ses")
_DYNAMODB_THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException")
# the namespace DynamoDB puts before each error code in `__type`
_DYNAMODB_NAMESPACE = {
    "ProvisionedThroughputExceededException": "com.amazonaws.dynamodb.v20120810",
    "ThrottlingException": "com.amazon.coral.availability",
    "InternalServerError": "com.amazonaws.dynamodb.v20120810",
    "ServiceUnavailable": "com.amazon.coral.availability",
}
_MESSAGES = {
    "ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the table was "
    "exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
    "Throttling": "Maximum sending rate exceeded.",
    "RequestThrottled": "Request is throttled.",
    "InternalServerError": "Internal server error",
    "InternalFailure": "The request processing has failed because of an unknown error, exception or failure.",
    "InternalError": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Service is unavailable. Please try again later.",
    "SlowDown": "Please reduce your request rate.",
}


@dataclass
class FaultRule:
    """One way a service misbehaves; see the module docstring."""

    service: str
    kind: FaultKind = "5xx"
    operations: tuple[str, ...] = ()  # empty: every operation of the service
    status: int = 500  # for `5xx`: 500 or 503
    code: str | None = None  # `throttle` on DynamoDB: one of _DYNAMODB_THROTTLES (default the first)
    probability: float = 1.0
    every: int | None = None  # every N-th matching request, instead of `probability`
    seconds: float | None = None  # how long from when it is set; None: until cleared
    until: float | None = None
    seen: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        known = {f.name for f in fields(cls)} - {"until", "seen"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {', '.join(sorted(unknown))}")
        rule = cls(**{**data, "operations": tuple(data.get("operations", ()))})
        if rule.service not in SERVICES:
            raise ValueError(f"service must be one of {', '.join(SERVICES)}")
        if rule.kind not in ("throttle", "5xx"):
            raise ValueError("kind must be throttle or 5xx")
        if rule.kind == "5xx" and rule.status not in (500, 503):
            raise ValueError("a 5xx fault answers 500 or 503")
        if rule.kind == "throttle" and rule.service == "s3":
            raise ValueError("S3 throttles with 503 SlowDown: use kind 5xx, status 503")
        if rule.code is not None and (rule.service != "dynamodb" or rule.code not in _DYNAMODB_THROTTLES):
            raise ValueError(f"code names a DynamoDB throttle: {', '.join(_DYNAMODB_THROTTLES)}")
        if rule.every is not None and rule.every < 1:
            raise ValueError("every must be at least 1")
        return rule

    def matches(self, service: str, operation: str | None, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return service == self.service and (not self.operations or operation in self.operations)

    def error_code(self) -> str:
        """The code AWS answers with for this rule's service and kind."""
        if self.kind == "throttle":
            return {"dynamodb": self.code or _DYNAMODB_THROTTLES[0], "sqs": "RequestThrottled", "ses": "Throttling"}[
                self.service
            ]
        if self.service == "dynamodb":
            return "InternalServerError" if self.status == 500 else "ServiceUnavailable"
        if self.service == "s3":
            return "InternalError" if self.status == 500 else "SlowDown"
        return "InternalFailure" if self.status == 500 else "ServiceUnavailable"

    def label(self) -> str:
        """How the counts name what was injected: `service:code`."""
        return f"{self.service}:{self.error_code()}"


@dataclass
class ErrorAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class FaultRules:
    """The rules in force, thread-safe, and what they injected so far."""

    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def set(self, rules: list[FaultRule]) -> None:
        """Add `rules`; each one's `seconds` run from now."""
        now = time.monotonic()
        for rule in rules:
            rule.until = now + rule.seconds if rule.seconds is not None else None
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def counts(self) -> dict[str, int]:
        """Faults injected so far, by `service:code`."""
        with self._lock:
            return dict(sorted(self._counts.items()))

    def active(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            return [asdict(rule) for rule in self._rules if rule.until is None or rule.until > now]

    def take(self, service: str, operation: str | None) -> FaultRule | None:
        """The rule that hits this request, if any (counted as injected)."""
        now = time.monotonic()
        with self._lock:
            self._rules = [rule for rule in self._rules if rule.until is None or rule.until > now]
            for rule in self._rules:
                if not rule.matches(service, operation, now):
                    continue
                rule.seen += 1
                hit = rule.seen % rule.every == 0 if rule.every else self._random.random() < rule.probability
                if hit:
                    self._counts[rule.label()] += 1
                    return rule
        return None

    def control(self, request: dict[str, Any]) -> dict[str, Any]:
        """The `POST /_devstack/faults` route: `clear`, then add `rules`; answers the active rules and counts."""
        if request.get("clear"):
            self.clear()
        rules = [FaultRule.from_json(rule) for rule in request.get("rules", [])]
        self.set(rules)
        return {"rules": self.active(), "injected": self.counts()}


def error_answer(rule: FaultRule, json_protocol: bool) -> ErrorAnswer:
    """The HTTP answer AWS gives for `rule`: status, headers and the body in the service's protocol.

    `json_protocol` says the request came in AWS's JSON protocol (DynamoDB, today's SQS);
    otherwise SQS answers in its query protocol's XML.
    """
    code = rule.error_code()
    message = _MESSAGES[code]
    status = 400 if rule.kind == "throttle" else rule.status
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if rule.service == "dynamodb":
        body = json.dumps({"__type": f"{_DYNAMODB_NAMESPACE[code]}#{code}", "message": message}).encode()
        return ErrorAnswer(status, [*headers, ("Content-Type", "application/x-amz-json-1.0")], body)
    if rule.service == "s3":
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{request_id[:16].upper()}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>"
        )
        return ErrorAnswer(
            status, [("x-amz-request-id", request_id[:16].upper()), ("Content-Type", "application/xml")], xml.encode()
        )
    fault = "Sender" if rule.kind == "throttle" else "Receiver"
    if rule.service == "sqs" and json_protocol:
        # SQS's JSON protocol stays compatible with its query codes through this header
        body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
        return ErrorAnswer(
            status,
            [
                *headers,
                ("x-amzn-query-error", f"{code};{fault}"),
                ("Content-Type", "application/x-amz-json-1.0"),
            ],
            body,
        )
    namespace = (
        "http://ses.amazonaws.com/doc/2010-12-01/"
        if rule.service == "ses"
        else "http://queue.amazonaws.com/doc/2012-11-05/"
    )
    xml = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return ErrorAnswer(status, [*headers, ("Content-Type", "text/xml")], xml.encode())
