"""Least privilege: each function's policy allows what it touches, and nothing else."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

from chalicelib.erasure.state_machine import TASK_FUNCTIONS
from chalicelib.resources import for_stage
from infra.permissions import ACCESS, policy
from infra.terraform import resources_tf

RESOURCES = for_stage("prod")
PREFIX = "data-engine-prod-"


def cells() -> set[tuple[str, str, str]]:
    """(function, resource, action) for every allowed action, resources shortened to their
    declared key (`table/config`, `bucket/lake/lake/*`, `queue/normalize-dlq`, ...)."""
    found = set()
    for function in ACCESS:
        for statement in policy(RESOURCES, function)["Statement"]:
            assert statement["Effect"] == "Allow"
            arns = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for arn in arns:
                for action in statement["Action"]:
                    found.add((function, short(arn), action))
    return found


def short(arn: str) -> str:
    if arn == "*":
        return "*"
    kind, _, name = re.sub(r"^arn:aws:(\w+):[^:]*:[^:]*:", r"\1 ", arn).partition(" ")
    name = name.replace(PREFIX, "").replace("data-engine/prod/", "").removesuffix("-??????")
    return f"{kind}/{name}"


def who(resource: str, action: str) -> set[str]:
    return {f for f, r, a in cells() if r == resource and a == action}


def touched(function: str) -> set[str]:
    """The resources a function may touch, beyond its own log group and X-Ray."""
    return {r for f, r, _ in cells() if f == function and not r.startswith("logs/") and r != "*"}


def key(resource: str) -> str:
    """The declared key a short resource belongs to (`dynamodb/table/state/index/x` -> `state`)."""
    service, _, rest = resource.partition("/")
    if service in ("dynamodb", "athena"):
        return rest.split("/")[1]
    if service == "states" and rest.startswith("execution:"):  # execution:{machine}:*
        return rest.split(":")[1]
    return rest.split("/")[0].split(":")[-1]


def test_every_function_of_the_app_has_an_access_statement() -> None:
    import app

    chalice_app = app.app
    declared = {"api_handler"} if chalice_app.routes else set()
    declared |= {auth.name for auth in chalice_app.builtin_auth_handlers}
    declared |= {source.name for source in chalice_app.event_sources}
    declared |= {function.name for function in chalice_app.pure_lambda_functions}
    assert declared == set(ACCESS)


def test_the_authorizer_reads_tokens_and_notes_their_last_use_only() -> None:
    assert touched("token_auth") == {"dynamodb/table/config"}
    assert {a for f, r, a in cells() if f == "token_auth" and r == "dynamodb/table/config"} == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",  # last use, at most once an hour per token
    }


def test_the_api_handler_cannot_delete_or_touch_the_lake() -> None:
    actions = {a for f, _, a in cells() if f == "api_handler"}
    assert not {a for a in actions if a.startswith("s3:Delete")}
    assert not {
        r for r in touched("api_handler") if r.startswith(("s3/data-engine-prod-lake", "s3/lake", "s3/quarantine"))
    }
    assert "secretsmanager/secret:sap" not in touched("api_handler")
    assert {r for r in touched("api_handler") if r.startswith("s3/")} == {"s3/raw/incoming/*"}


@pytest.mark.parametrize(
    ("resource", "action", "functions"),
    [
        # objects of personal data: who deletes (rewrites in place), who reads
        (
            "s3/lake/lake/*",
            "s3:DeleteObject",
            {"gdpr_rewrite_objects", "gdpr_anonymization", "gdpr_anonymization_run", "compact_lake"},
        ),
        (
            "s3/raw/incoming/*",
            "s3:DeleteObject",
            {"gdpr_rewrite_objects", "gdpr_anonymization", "gdpr_anonymization_run"},
        ),
        ("s3/quarantine/quarantine/*", "s3:DeleteObject", {"gdpr_forget_subjects"}),
        (
            "s3/lake/lake/*",
            "s3:PutObject",
            {"normalize_chunks", "gdpr_rewrite_objects", "gdpr_anonymization", "gdpr_anonymization_run"}
            | {"compact_lake"},
        ),
        (
            "s3/raw/incoming/*",
            "s3:PutObject",
            {"api_handler", "collect_webhooks", "pull_sources", "pull_source", "gdpr_rewrite_objects"}
            | {"gdpr_anonymization", "gdpr_anonymization_run"},
        ),
        (
            "s3/raw/incoming/*",
            "s3:GetObject",
            {"ingest_raw_object", "reprocess_file", "gdpr_rewrite_objects", "gdpr_verify_erasure"}
            | {"gdpr_anonymization", "gdpr_anonymization_run", "api_handler"},  # api: a rejected document retried
        ),
        (
            "s3/lake/lake/*",
            "s3:GetObject",
            {
                "gdpr_find_objects",
                "gdpr_verify_erasure",
                "gdpr_rewrite_objects",
                "gdpr_anonymization",
                "gdpr_anonymization_run",
                "compact_lake",
            },
        ),
        # secrets
        (
            "secretsmanager/secret:sap",
            "secretsmanager:GetSecretValue",
            {"dispatch_to_sap", "gdpr_erase_in_sap", "gdpr_verify_erasure"},
        ),
        ("secretsmanager/secret:google-ads", "secretsmanager:GetSecretValue", {"api_handler"}),
        ("secretsmanager/secret:amazon-sp-api", "secretsmanager:GetSecretValue", {"pull_sources", "pull_source"}),
        # the State Keeper's table: one writer of state, plus file outcomes and forgetting
        (
            "dynamodb/table/state",
            "dynamodb:PutItem",
            {"keep_state", "ingest_raw_object", "reprocess_file", "gdpr_forget_subjects"},
        ),
        (
            "dynamodb/table/state/index/by_subject",
            "dynamodb:Query",
            {
                "api_handler",
                "keep_state",
                "ingest_raw_object",
                "reprocess_file",
                "gdpr_forget_subjects",
                "gdpr_verify_erasure",
                "dlq_watch",
                "daily_summary",
            },
        ),
        (
            "dynamodb/table/sap-ledger",
            "dynamodb:UpdateItem",
            {"dispatch_to_sap", "dlq_watch", "replay_sap_dead_letters", "api_handler"},
        ),
        # queues: who consumes
        ("sqs/normalize", "sqs:ReceiveMessage", {"normalize_chunks"}),
        ("sqs/state-changes", "sqs:ReceiveMessage", {"keep_state"}),
        ("sqs/sap-dispatch.fifo", "sqs:ReceiveMessage", {"dispatch_to_sap"}),
        ("sqs/webhooks", "sqs:ReceiveMessage", {"collect_webhooks"}),
        ("sqs/normalize-dlq", "sqs:ReceiveMessage", {"dlq_watch", "replay_normalize_dead_letters", "api_handler"}),
        ("sqs/state-changes-dlq", "sqs:ReceiveMessage", {"api_handler"}),  # POST /state-changes/replay
        ("sqs/sap-dispatch", "sqs:SendMessage", set()),  # the FIFO queue's name ends in .fifo
        ("sqs/sap-dispatch.fifo", "sqs:SendMessage", {"normalize_chunks", "replay_sap_dead_letters", "api_handler"}),
        # the erasure workflow, Athena, mail, asynchronous runs
        ("states/stateMachine:gdpr-erasure", "states:StartExecution", {"api_handler", "gdpr_erasure_batch"}),
        ("athena/workgroup/gdpr", "athena:StartQueryExecution", {"gdpr_find_objects", "gdpr_verify_erasure"}),
        (
            "ses/identity/data-engine-prod@example.com",
            "ses:SendEmail",
            {"dlq_watch", "gdpr_report_job", "daily_summary"},
        ),
        ("lambda/function:reprocess_file", "lambda:InvokeFunction", {"api_handler"}),
        ("lambda/function:gdpr_anonymization_run", "lambda:InvokeFunction", {"api_handler"}),
        # POST /async-failures/replay: the failed events of asynchronous runs invoked again
        ("sqs/async-failures", "sqs:ReceiveMessage", {"api_handler"}),
        ("lambda/function:ingest_raw_object", "lambda:InvokeFunction", {"api_handler"}),
        ("lambda/function:keep_state", "lambda:InvokeFunction", set()),
    ],
)
def test_who_may_do_what(resource: str, action: str, functions: set[str]) -> None:
    assert who(resource, action) == functions


@pytest.mark.parametrize("queue", [q.name.removeprefix("data-engine-prod-") for q in for_stage("prod").all_queues()])
def test_the_functions_that_read_every_queues_depth_may_read_each_one(queue: str) -> None:
    # operations.queue_depths: GET /queues, the dead-letter watch and the daily summary
    assert {"api_handler", "dlq_watch", "daily_summary"} <= who(f"sqs/{queue}", "sqs:GetQueueAttributes")


def test_each_function_touches_only_its_resources() -> None:
    table = {function: {key(r) for r in touched(function)} for function in ACCESS}
    assert table["keep_state"] == {"state-changes", "state"}
    assert table["replay_normalize_dead_letters"] == {"normalize-dlq", "normalize"}
    assert table["replay_webhook_dead_letters"] == {"webhooks-dlq", "webhooks"}
    assert table["gdpr_erasure_batch"] == {"config", "gdpr-erasure", "async-failures"}  # a schedule
    assert table["gdpr_erase_in_sap"] == {"config", "sap", "athena-results"}
    assert table["ingest_raw_object"] == {"raw", "config", "state", "normalize", "async-failures"}


def test_no_policy_has_a_wildcard_resource_but_x_ray() -> None:
    for function in ACCESS:
        for statement in policy(RESOURCES, function)["Statement"]:
            arns = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if "*" in arns:
                assert statement["Sid"] == "Tracing" and all(a.startswith("xray:") for a in statement["Action"])
            for arn in arns:
                # only region and account, an object prefix, the secret suffix or log streams may be open
                name = re.sub(r"^arn:aws:\w+:\*:\*:", "", re.sub(r"^arn:aws:s3:::", "", arn))
                name = re.sub(r"(/\*|-\?{6}|:\*)$", "", name)
                assert "*" not in name or arn == "*", arn
                assert "?" not in name, arn


def test_the_step_functions_role_invokes_only_its_task_functions() -> None:
    declared = resources_tf(RESOURCES)["resource"]
    document = json.loads(declared["aws_iam_role_policy"]["gdpr_erasure_sfn"]["policy"])
    invoked = defaultdict(set)
    for statement in document["Statement"]:
        if statement["Action"] == "lambda:InvokeFunction":
            invoked["lambda"] |= set(statement["Resource"])
    assert invoked["lambda"] == {f"${{aws_lambda_function.{name}.arn}}" for name in TASK_FUNCTIONS.values()}
