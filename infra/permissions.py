"""What each Lambda function touches, and the least-privilege IAM policy built from it.

`ACCESS` is the one readable statement per function (read from `app.py`'s handlers and
`chalicelib/wiring.py`'s builders): which tables, bucket prefixes, queues, secrets, state
machines and functions it uses, and how. `policy(resources, function)` turns it into the
function's own IAM policy with the declared names of the stage.

Wildcards remain only where AWS offers nothing narrower:
- X-Ray `PutTraceSegments`/`PutTelemetryRecords` have no resource-level permissions (`*`);
- ARNs leave region and account as `*`: names carry app and stage, so they are unique in
  an account, and the same policy file serves every region;
- object ARNs end in `prefix*` (S3 grants by key prefix), secret ARNs in `-??????`
  (the six random characters Secrets Manager appends).
Batch and transactional calls (SendMessageBatch, BatchWriteItem's items, TransactWriteItems)
are authorized as their single-item actions, so those are the ones granted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.erasure.state_machine import TASK_FUNCTIONS
from chalicelib.erasure.workflow import JOBS_PREFIX
from chalicelib.ingest.normalize_chunk import QUARANTINE_PREFIX, REASONS_PREFIX
from chalicelib.intake.collect_deliveries import DELIVERIES_PREFIX
from chalicelib.normalize.lake import LAKE_PREFIX
from chalicelib.normalize.sources import RAW_PREFIX
from chalicelib.resources import ASYNC_FUNCTIONS, Resources

# where the Athena workgroup writes query results (infra/terraform.py declares it)
ATHENA_RESULTS_PREFIX = "athena/"

TABLE_ACTIONS = {
    "get": ("dynamodb:GetItem",),
    "touch": ("dynamodb:UpdateItem",),  # one attribute of a known item (a token's last use)
    "read": ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"),
    "write": (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
    ),
}
OBJECT_ACTIONS = {
    "get": ("s3:GetObject", "s3:GetObjectTagging"),
    "put": ("s3:PutObject", "s3:PutObjectTagging"),
    # a rewrite deletes the version it replaced (versioned buckets), so no copy survives
    "delete": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    # Athena writes results with the caller's credentials, in parts
    "athena-results": ("s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
}
QUEUE_ACTIONS = {
    "send": ("sqs:SendMessage", "sqs:GetQueueUrl"),
    "consume": (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    ),
    "watch": ("sqs:GetQueueAttributes", "sqs:GetQueueUrl"),
}
ATHENA_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "athena:GetWorkGroup",
)
GLUE_ACTIONS = ("glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions")


@dataclass(frozen=True)
class Grant:
    """One thing a function touches: `kind` (table, objects, listing, queue, secret,
    state-machine, function, mail, lake-queries), the declared key, and how."""

    kind: str
    key: str = ""
    access: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


def table(key: str, *access: str) -> Grant:
    return Grant("table", key, access)


def objects(bucket: str, prefixes: tuple[str, ...], *access: str) -> Grant:
    return Grant("objects", bucket, access, prefixes)


def listing(bucket: str, *prefixes: str) -> Grant:
    """ListBucket, limited to keys under `prefixes` ('' is the whole bucket)."""
    return Grant("listing", bucket, ("list",), prefixes)


def queue(key: str, *access: str) -> Grant:
    return Grant("queue", key, access)


def secret(key: str) -> Grant:
    return Grant("secret", key, ("read",))


def start(machine: str) -> Grant:
    return Grant("state-machine", machine, ("start",))


def machine(key: str, *access: str) -> Grant:
    """A state machine: `start`, `list` (its running executions), `watch` and `stop` an execution."""
    return Grant("state-machine", key, access)


def invoke(function: str) -> Grant:
    return Grant("function", function, ("invoke",))


MAIL = Grant("mail", "", ("send",))
# Athena through the stage's workgroup: the Glue table, the lake read, results written
LAKE_QUERIES: tuple[Grant, ...] = (
    Grant("lake-queries", "", ("query",)),
    objects("lake", (LAKE_PREFIX,), "get"),
    listing("lake", LAKE_PREFIX),
    objects("athena-results", (ATHENA_RESULTS_PREFIX,), "get", "put", "athena-results"),
    listing("athena-results", ATHENA_RESULTS_PREFIX),
)
RAW_FILES = (RAW_PREFIX,)
QUARANTINE = (QUARANTINE_PREFIX, REASONS_PREFIX)
JOBS = (JOBS_PREFIX,)
ALL_QUEUES = ("normalize", "state-changes", "sap-dispatch", "webhooks")
DEAD_LETTER_QUEUES = tuple(f"{key}-dlq" for key in ALL_QUEUES)
# what `operations.queue_depths` reads: every queue, its DLQ, and the on-failure queue
EVERY_QUEUE = (*ALL_QUEUES, *DEAD_LETTER_QUEUES, "async-failures")
STATE_REPORTS = queue("state-changes", "send")  # StateReporter: every component reports state changes

# Rewriting objects in place (erasure, anonymization): read, write the new version, drop the old one.
REWRITE = ("get", "put", "delete")

ACCESS: dict[str, tuple[Grant, ...]] = {
    # -- the HTTP API ----------------------------------------------------------------------
    # the authorizer looks up a token's hash: one GetItem on the config table, nothing else
    "token_auth": (table("config", "get", "touch"),),  # reads the token; its last use, at most hourly
    # every route: uploads into incoming/ (never a delete anywhere), the State Keeper's
    # reads, settings in the config table, webhook deliveries, the four replays (DLQ ->
    # queue), queue depths, erasure jobs started now, and the runs handed to functions
    "api_handler": (
        table("config", "read", "write"),
        table("state", "read"),
        table("sap-ledger", "read", "write"),  # SAP replay: parked records back to pending
        objects("raw", RAW_FILES, "put"),
        *(queue(key, "watch") for key in ALL_QUEUES),
        queue("webhooks", "send"),
        *(queue(key, "send") for key in ("normalize", "sap-dispatch")),
        *(queue(key, "consume") for key in ("normalize-dlq", "sap-dispatch-dlq", "webhooks-dlq", "state-changes-dlq")),
        STATE_REPORTS,
        secret("subject-key"),
        secret("google-ads"),
        secret("meta"),
        secret("eventbrite"),
        machine("gdpr-erasure", "start", "watch", "stop"),  # one job at a time; cancel
        objects("raw", RAW_FILES, "get"),  # a rejected document read again for its retry
        invoke("gdpr_anonymization_run"),
        invoke("pull_source"),
        invoke("reprocess_file"),
        queue("async-failures", "consume"),  # failed asynchronous runs invoked again
        *(invoke(function) for function in ASYNC_FUNCTIONS),
    ),
    # -- the pipeline ----------------------------------------------------------------------
    "ingest_raw_object": (
        objects("raw", RAW_FILES, "get"),
        table("config", "read"),  # declared mappings
        table("state", "read", "write"),  # file outcomes
        queue("normalize", "send"),
    ),
    "reprocess_file": (
        objects("raw", RAW_FILES, "get"),
        table("config", "read"),
        table("state", "read", "write"),
        queue("normalize", "send"),
    ),
    "normalize_chunks": (
        queue("normalize", "consume"),
        objects("lake", (LAKE_PREFIX,), "put"),
        objects("quarantine", QUARANTINE, "put"),
        table("config", "read"),  # mappings and erasure tombstones
        secret("subject-key"),
        STATE_REPORTS,
        queue("sap-dispatch", "send"),
    ),
    "keep_state": (queue("state-changes", "consume"), table("state", "read", "write")),
    "dispatch_to_sap": (
        queue("sap-dispatch", "consume"),
        secret("sap"),
        table("config", "read", "write"),  # the shared throttle; tombstones read
        table("sap-ledger", "read", "write"),
        STATE_REPORTS,
    ),
    # -- intake ----------------------------------------------------------------------------
    "collect_webhooks": (
        queue("webhooks", "consume"),
        objects("raw", (RAW_PREFIX, DELIVERIES_PREFIX), "put"),
        table("config", "read", "write"),  # source states and counts
        secret("meta"),
        secret("eventbrite"),
    ),
    "pull_sources": (
        objects("raw", RAW_FILES, "put"),
        table("config", "read", "write"),
        secret("meta"),
        secret("eventbrite"),
        secret("amazon-sp-api"),
    ),
    "pull_source": (
        objects("raw", RAW_FILES, "put"),
        table("config", "read", "write"),
        secret("meta"),
        secret("eventbrite"),
        secret("amazon-sp-api"),
    ),
    "replay_webhook_dead_letters": (queue("webhooks-dlq", "consume"), queue("webhooks", "send")),
    # -- dead letters ----------------------------------------------------------------------
    # parks what the normalize and SAP DLQs hold (state changes, ledger) and mails one summary
    "dlq_watch": (
        *(queue(key, "watch") for key in EVERY_QUEUE),
        queue("normalize-dlq", "consume"),
        queue("sap-dispatch-dlq", "consume"),
        queue("sap-dispatch-dlq", "send"),
        table("sap-ledger", "read", "write"),
        table("state", "read"),  # documents stuck in an in-flight state
        table("config", "read", "write"),  # incidents: opened, reminded, resolved
        STATE_REPORTS,
        MAIL,
    ),
    "replay_normalize_dead_letters": (queue("normalize-dlq", "consume"), queue("normalize", "send")),
    "replay_sap_dead_letters": (
        queue("sap-dispatch-dlq", "consume"),
        queue("sap-dispatch", "send"),
        table("sap-ledger", "read", "write"),
        STATE_REPORTS,
    ),
    # -- GDPR ------------------------------------------------------------------------------
    "gdpr_anonymization": (
        table("config", "read", "write"),  # policies, run records, partition marks
        secret("subject-key"),
        listing("lake", LAKE_PREFIX),
        objects("lake", (LAKE_PREFIX,), *REWRITE),
        objects("raw", RAW_FILES, *REWRITE),
        STATE_REPORTS,
    ),
    "gdpr_anonymization_run": (
        table("config", "read", "write"),
        secret("subject-key"),
        listing("lake", LAKE_PREFIX),
        objects("lake", (LAKE_PREFIX,), *REWRITE),
        objects("raw", RAW_FILES, *REWRITE),
        STATE_REPORTS,
    ),
    "gdpr_erasure_batch": (table("config", "read", "write"), machine("gdpr-erasure", "start", "watch")),
    # -- lake upkeep and the daily mail -------------------------------------------------------
    "compact_lake": (
        machine("gdpr-erasure", "list"),  # never beside a running erasure job
        listing("lake", LAKE_PREFIX),
        objects("lake", (LAKE_PREFIX,), "get", "put", "delete"),
    ),
    "daily_summary": (
        table("state", "read"),
        table("config", "read"),
        *(queue(key, "watch") for key in EVERY_QUEUE),
        listing("athena-results", JOBS_PREFIX),
        objects("athena-results", JOBS, "get"),
        MAIL,
    ),
    # the workflow's task states; each keeps its results in the job's folder of the work bucket
    "gdpr_find_objects": (
        table("config", "read", "write"),  # the job; tombstones written
        *LAKE_QUERIES,
        objects("athena-results", JOBS, "get", "put"),
        listing("athena-results", JOBS_PREFIX),
    ),
    "gdpr_rewrite_objects": (
        table("config", "read"),
        secret("subject-key"),  # which raw records are the subjects'
        objects("lake", (LAKE_PREFIX,), *REWRITE),
        objects("raw", RAW_FILES, *REWRITE),
        objects("athena-results", JOBS, "get", "put"),
        listing("athena-results", JOBS_PREFIX),
    ),
    "gdpr_forget_subjects": (
        table("config", "read"),
        table("state", "read", "write"),  # subject links via the by_subject index
        STATE_REPORTS,
        secret("subject-key"),
        listing("quarantine", ""),
        objects("quarantine", QUARANTINE, *REWRITE),
        objects("athena-results", JOBS, "get", "put"),
        listing("athena-results", JOBS_PREFIX),
    ),
    "gdpr_erase_in_sap": (
        table("config", "read", "write"),  # the job; the shared SAP throttle
        secret("sap"),
        objects("athena-results", JOBS, "get", "put"),
        listing("athena-results", JOBS_PREFIX),
    ),
    "gdpr_verify_erasure": (
        table("config", "read", "write"),
        table("state", "read"),  # traces left in the State Keeper
        secret("subject-key"),
        secret("sap"),  # reads SAP back
        *LAKE_QUERIES,
        objects("raw", RAW_FILES, "get"),
        objects("quarantine", QUARANTINE, "get"),
        objects("athena-results", JOBS, "get", "put"),
        listing("athena-results", JOBS_PREFIX),
    ),
    "gdpr_report_job": (
        table("config", "read", "write"),  # requests and the job moved to their final state
        objects("athena-results", JOBS, "get", "put"),
        listing("athena-results", JOBS_PREFIX),
        MAIL,
    ),
}

# The HTTP edge: reserved concurrency keeps a flood of requests from starving the pipeline.
AUTHORIZERS = ("token_auth",)
API_FUNCTIONS = ("api_handler", *AUTHORIZERS)
STATE_MACHINE_TASKS = tuple(TASK_FUNCTIONS.values())


def function_name(resources: Resources, function: str) -> str:
    """The deployed Lambda function's name: Chalice names the REST API's handler after the
    app and stage alone, and every other function after its own name too."""
    if function == "api_handler":
        return f"{resources.app}-{resources.stage}"
    return role_name(resources, function)


def role_name(resources: Resources, function: str) -> str:
    """The function's own IAM role (Chalice's name for it)."""
    return f"{resources.app}-{resources.stage}-{function}"


def policy(resources: Resources, function: str) -> dict[str, Any]:
    """The IAM policy of one function: its own log group, X-Ray, and what `ACCESS` names."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:*:*:log-group:/aws/lambda/{function_name(resources, function)}:*",
        },
        {
            "Sid": "Tracing",  # X-Ray has no resource-level permissions
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        },
    ]
    for grant in ACCESS[function]:
        statements += _statements(resources, grant)
    if function in ASYNC_FUNCTIONS:  # Lambda sends a failed event to the destination with the function's role
        statements.append(
            _allow("FailureDestination", ["sqs:SendMessage"], [f"arn:aws:sqs:*:*:{resources.failure_queue().name}"])
        )
    return {"Version": "2012-10-17", "Statement": _merged(statements)}


def _statements(resources: Resources, grant: Grant) -> list[dict[str, Any]]:
    sid = _sid(grant)
    if grant.kind == "table":
        declared = resources.table(grant.key)
        arn = f"arn:aws:dynamodb:*:*:table/{declared.name}"
        actions = [a for level in grant.access for a in TABLE_ACTIONS[level]]
        arns = [arn]
        if "dynamodb:Query" in actions:
            arns += [f"{arn}/index/{index.name}" for index in declared.indexes]
        return [_allow(sid, actions, arns)]
    if grant.kind == "objects":
        bucket = resources.bucket(grant.key).name
        actions = [a for level in grant.access for a in OBJECT_ACTIONS[level]]
        return [_allow(sid, actions, [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in grant.prefixes])]
    if grant.kind == "listing":
        bucket = resources.bucket(grant.key).name
        statement = _allow(sid, ["s3:ListBucket"], [f"arn:aws:s3:::{bucket}"])
        if any(grant.prefixes):
            statement["Condition"] = {"StringLike": {"s3:prefix": [f"{p}*" for p in grant.prefixes]}}
        # GetBucketLocation carries no s3:prefix, so it cannot share the listing's condition
        location = _allow(
            _sid(Grant("bucket", grant.key, ("location",))), ["s3:GetBucketLocation"], [statement["Resource"][0]]
        )
        return [statement, location]
    if grant.kind == "queue":
        name = next(q.name for q in resources.all_queues() if q.key == grant.key)
        actions = [a for level in grant.access for a in QUEUE_ACTIONS[level]]
        return [_allow(sid, actions, [f"arn:aws:sqs:*:*:{name}"])]
    if grant.kind == "secret":
        name = resources.secret(grant.key).name
        return [_allow(sid, ["secretsmanager:GetSecretValue"], [f"arn:aws:secretsmanager:*:*:secret:{name}-??????"])]
    if grant.kind == "state-machine":
        name = resources.state_machine(grant.key).name
        on_machine = {"start": "states:StartExecution", "list": "states:ListExecutions"}
        on_execution = {"watch": "states:DescribeExecution", "stop": "states:StopExecution"}
        statements = []
        machine_actions = [on_machine[a] for a in grant.access if a in on_machine]
        if machine_actions:
            statements.append(_allow(sid, machine_actions, [f"arn:aws:states:*:*:stateMachine:{name}"]))
        execution_actions = [on_execution[a] for a in grant.access if a in on_execution]
        if execution_actions:
            statements.append(_allow(f"{sid}Executions", execution_actions, [f"arn:aws:states:*:*:execution:{name}:*"]))
        return statements
    if grant.kind == "function":
        return [
            _allow(
                sid, ["lambda:InvokeFunction"], [f"arn:aws:lambda:*:*:function:{function_name(resources, grant.key)}"]
            )
        ]
    if grant.kind == "mail":
        statement = _allow(
            sid,
            ["ses:SendEmail", "ses:SendRawEmail"],
            # the sender; in SES's sandbox the recipients are identities that IAM checks too
            [f"arn:aws:ses:*:*:identity/{address}" for address in (resources.mail_from, *resources.mail_to)],
        )
        statement["Condition"] = {"StringEquals": {"ses:FromAddress": resources.mail_from}}
        return [statement]
    if grant.kind == "lake-queries":
        catalog = resources.catalog()
        results = resources.bucket(catalog.results_bucket).name
        return [
            _allow(
                "AthenaResultsBucket",
                ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                [f"arn:aws:s3:::{results}"],
            ),
            _allow("AthenaWorkgroup", list(ATHENA_ACTIONS), [f"arn:aws:athena:*:*:workgroup/{catalog.workgroup}"]),
            _allow(
                "LakeCatalog",
                list(GLUE_ACTIONS),
                [
                    "arn:aws:glue:*:*:catalog",
                    f"arn:aws:glue:*:*:database/{catalog.database}",
                    f"arn:aws:glue:*:*:table/{catalog.database}/{catalog.table}",
                ],
            ),
        ]
    raise ValueError(f"unknown grant kind {grant.kind!r}")


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)), "Resource": resources}


def _sid(grant: Grant) -> str:
    words = re.split(r"[^A-Za-z0-9]+", f"{grant.key} {grant.kind} {' '.join(grant.access)}")
    return "".join(word.capitalize() for word in words if word)


def _merged(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Statements with one Sid merged: actions, resources and listed prefixes united.

    Only listings can differ in their condition (the `s3:prefix` they may list)."""
    merged: dict[str, dict[str, Any]] = {}
    for statement in statements:
        sid = statement["Sid"]
        if sid in merged:
            kept = merged[sid]
            kept["Action"] = sorted(set(kept["Action"]) | set(statement["Action"]))
            kept["Resource"] = sorted(set(kept["Resource"]) | set(statement["Resource"]))
            if "Condition" not in kept or "Condition" not in statement:  # one of them lists the whole bucket
                kept.pop("Condition", None)
            else:
                prefixes = (
                    kept["Condition"]["StringLike"]["s3:prefix"] + statement["Condition"]["StringLike"]["s3:prefix"]
                )
                kept["Condition"] = {"StringLike": {"s3:prefix": sorted(set(prefixes))}}
        else:
            merged[sid] = dict(statement)
    return list(merged.values())
