"""`.chalice/config.json` and the per-stage IAM policies, derived from the declaration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.resources import APP_NAME, FUNCTION_TIMEOUT, STAGES, Resources, for_stage

CHALICE_DIR = Path(__file__).resolve().parent.parent / ".chalice"


def chalice_config() -> dict[str, Any]:
    return {
        "version": "2.0",
        "app_name": APP_NAME,
        "autogen_policy": False,
        "lambda_timeout": FUNCTION_TIMEOUT,
        "lambda_memory_size": 1024,
        "stages": {
            stage: {
                "api_gateway_stage": "api",
                "iam_policy_file": f"policy-{stage}.json",
                "environment_variables": for_stage(stage).environment(),
                "lambda_functions": {
                    function.name: {"lambda_timeout": function.timeout, "lambda_memory_size": function.memory_mb}
                    for function in for_stage(stage).functions
                },
            }
            for stage in STAGES
        },
    }


def iam_policy(resources: Resources) -> dict[str, Any]:
    """Least privilege: each function may touch only its stage's declared resources."""
    buckets = [f"arn:aws:s3:::{b.name}" for b in resources.buckets]
    queues = [f"arn:aws:sqs:*:*:{q.name}" for q in resources.all_queues()]
    tables = [f"arn:aws:dynamodb:*:*:table/{t.name}" for t in resources.tables]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "arn:aws:logs:*:*:*",
            },
            {
                "Sid": "Buckets",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": buckets,
            },
            {
                "Sid": "Objects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:GetObjectTagging",
                    "s3:PutObjectTagging",
                ],
                "Resource": [f"{b}/*" for b in buckets],
            },
            {
                "Sid": "Queues",
                "Effect": "Allow",
                "Action": [
                    "sqs:SendMessage",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                ],
                "Resource": queues,
            },
            {
                "Sid": "Tables",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:TransactWriteItems",
                    "dynamodb:DescribeTable",
                ],
                "Resource": tables + [f"{t}/index/*" for t in tables],
            },
            {
                "Sid": "Secrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [f"arn:aws:secretsmanager:*:*:secret:{s.name}-*" for s in resources.secrets],
            },
            {
                "Sid": "Mail",
                "Effect": "Allow",
                "Action": ["ses:SendEmail", "ses:SendRawEmail"],
                "Resource": "*",
                "Condition": {"StringEquals": {"ses:FromAddress": resources.mail_from}},
            },
            *_gdpr_statements(resources),
            {
                "Sid": "AsynchronousRuns",  # the API hands anonymization runs, pulls and reprocessing to functions
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [
                    f"arn:aws:lambda:*:*:function:{resources.app}-{resources.stage}-{name}"
                    for name in ("gdpr_anonymization_run", "pull_source", "reprocess_file")
                ],
            },
        ],
    }


def _gdpr_statements(resources: Resources) -> list[dict[str, Any]]:
    """Start, watch and stop (cancel) the erasure workflow; query the lake through the stage's workgroup."""
    statements: list[dict[str, Any]] = []
    if resources.state_machines:
        statements.append(
            {
                "Sid": "StateMachines",
                "Effect": "Allow",
                "Action": ["states:StartExecution", "states:DescribeExecution", "states:StopExecution"],
                "Resource": [f"arn:aws:states:*:*:stateMachine:{m.name}" for m in resources.state_machines]
                + [f"arn:aws:states:*:*:execution:{m.name}:*" for m in resources.state_machines],
            }
        )
    catalog = resources.lake_catalog
    if catalog is not None:
        statements += [
            {
                "Sid": "Athena",
                "Effect": "Allow",
                "Action": [
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                    "athena:GetWorkGroup",
                ],
                "Resource": f"arn:aws:athena:*:*:workgroup/{catalog.workgroup}",
            },
            {
                "Sid": "Catalog",
                "Effect": "Allow",
                "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"],
                "Resource": [
                    "arn:aws:glue:*:*:catalog",
                    f"arn:aws:glue:*:*:database/{catalog.database}",
                    f"arn:aws:glue:*:*:table/{catalog.database}/{catalog.table}",
                ],
            },
        ]
    return statements


def write(directory: Path = CHALICE_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = [directory / "config.json"]
    written[0].write_text(json.dumps(chalice_config(), indent=2) + "\n")
    for stage in STAGES:
        path = directory / f"policy-{stage}.json"
        path.write_text(json.dumps(iam_policy(for_stage(stage)), indent=2) + "\n")
        written.append(path)
    return written
