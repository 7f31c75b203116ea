"""The checkov checks we accept failing, each with its reason, written as inline skips.

`skips(block, kind, label, body)` answers the `ID:reason` of the `# checkov:skip=` comments
`infra/hcl.py` writes into a generated block. Every other check must pass (`make lint-infra`).
Most exceptions share one cause: customer-managed KMS keys, versions, replicas, a VPC or a
WAF would cost money per stage or per request, or keep copies that GDPR erasure would then
have to find, without protecting data that the design does not already keep out of reach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.resources import ASYNC_FUNCTIONS


@dataclass(frozen=True)
class Accepted:
    check: str
    reason: str
    applies: Callable[[str, dict[str, Any]], bool] = lambda label, body: True


ACCEPTED: dict[str, tuple[Accepted, ...]] = {
    "aws_s3_bucket": (
        Accepted("CKV_AWS_21", "versioning off on purpose: erased or anonymized data must not survive in old versions"),
        Accepted("CKV_AWS_144", "no replicas: a second copy of personal data that every erasure would have to find"),
        Accepted(
            "CKV_AWS_145", "SSE-S3 (AES256): KMS would cost a request per object read and written at millions an hour"
        ),
        Accepted(
            "CKV2_AWS_62",
            "nothing reacts to objects landing here (only the raw bucket's incoming/ starts work)",
            lambda label, body: label != "raw",
        ),
        Accepted(
            "CKV_AWS_18",
            "the log bucket does not log into itself; the state bucket is read by Terraform only",
            lambda label, body: label in ("access_logs", "state"),
        ),
    ),
    "aws_lambda_function": (
        Accepted(
            "CKV_AWS_116",
            "invoked asynchronously: failed events go to the on-failure destination (async-failures), which "
            "carries the error, unlike a function DLQ",
            lambda label, body: label in ASYNC_FUNCTIONS,
        ),
        Accepted(
            "CKV_AWS_116",
            "invoked synchronously (API, authorizer, SQS mappings whose queues redrive to their DLQs, Step "
            "Functions tasks retried by the workflow): a function DLQ would never receive an event",
            lambda label, body: label not in ASYNC_FUNCTIONS,
        ),
        Accepted(
            "CKV_AWS_117",
            "no VPC: the functions reach only AWS APIs, SAP and the platforms over HTTPS; "
            "NAT would cost per AZ and stage",
        ),
        Accepted(
            "CKV_AWS_173",
            "the environment holds resource names only (secrets are in Secrets Manager); encrypted at rest by Lambda",
        ),
        Accepted("CKV_AWS_272", "the package is built and applied by the same pipeline; no signing profile to verify"),
    ),
    "aws_cloudwatch_log_group": (
        Accepted(
            "CKV_AWS_158", "logs carry pseudonymous ids only, never personal data; encrypted at rest by CloudWatch"
        ),
        Accepted(
            "CKV_AWS_338",
            "dev and staging keep logs briefly: their data is test data (prod keeps a year)",
            lambda label, body: int(body.get("retention_in_days", 0)) < 365,
        ),
    ),
    "aws_dynamodb_table": (
        Accepted(
            "CKV_AWS_119",
            "encrypted with the AWS owned key: a CMK would cost a request per read and write; items hold "
            "pseudonymous ids only",
        ),
        Accepted(
            "CKV_AWS_28",
            "dev tables are rebuilt from samples; PITR in staging and prod",
            lambda label, body: not body["point_in_time_recovery"][0]["enabled"],
        ),
    ),
    "aws_secretsmanager_secret": (
        Accepted("CKV_AWS_149", "the AWS managed key: only this account's function roles read these secrets"),
        Accepted(
            "CKV2_AWS_57",
            "third-party credentials are rotated where they are issued (SAP, the platforms); the subject key "
            "must never rotate (every pseudonymous id would change)",
        ),
    ),
    "aws_sns_topic": (
        Accepted(
            "CKV_AWS_26",
            "alarm messages name metrics and thresholds only; the AWS managed SNS key would stop CloudWatch publishing",
        ),
    ),
    "aws_api_gateway_stage": (
        Accepted(
            "CKV2_AWS_29",
            "no WAF: every route but /health and /hooks needs a bearer token, hooks are verified the platform's "
            "way, and the stage throttles; a WAF would cost per stage and request",
        ),
        Accepted(
            "CKV2_AWS_51", "Lambda proxy integration: there is no HTTP backend to present a client certificate to"
        ),
        Accepted("CKV_AWS_120", "no response cache: answers are live state per caller (the authorizer caches 30 s)"),
    ),
    "aws_api_gateway_method_settings": (
        Accepted("CKV_AWS_225", "no response cache: answers are live state per caller (the authorizer caches 30 s)"),
    ),
}


def skips(block: str, kind: str, label: str, body: dict[str, Any]) -> Iterator[str]:
    if block != "resource":
        return
    for accepted in ACCEPTED.get(kind, ()):
        if accepted.applies(label, body):
            yield f"{accepted.check}:{accepted.reason}"
