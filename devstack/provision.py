"""Create a stage's declared resources on the emulator (idempotent)."""

from __future__ import annotations

import json
from secrets import token_hex
from typing import Any

from chalicelib.resources import DeadLetterQueue, Queue, Resources, Table


def provision(
    resources: Resources,
    session: Any,
    secret_values: dict[str, str] | None = None,
    visibility_timeout: int | None = None,
) -> None:
    """Create every bucket, queue, table, secret and mail identity of `resources`.

    Existing ones are kept. A secret gets its value from `secret_values` (by key) or,
    failing that, a random one, as an operator would put after `terraform apply`.
    `visibility_timeout` replaces every queue's declared one (local runs only: a chaos run's
    killed batches come back in seconds, not six function timeouts).
    """
    s3 = session.client("s3")
    for bucket in resources.buckets:
        create_bucket(s3, bucket.name, session.region_name)
    sqs = session.client("sqs")
    for queue in resources.queues:
        create_queue(sqs, queue, visibility_timeout)
    if resources.async_failures is not None:
        _create_dead_letter_queue(sqs, resources.async_failures)
    secrets = session.client("secretsmanager")
    existing_secrets = {s["Name"] for s in secrets.list_secrets()["SecretList"]}
    for secret in resources.secrets:
        if secret.name not in existing_secrets:
            value = (secret_values or {}).get(secret.key) or token_hex(32)
            secrets.create_secret(Name=secret.name, Description=secret.description, SecretString=value)
    session.client("ses").verify_email_identity(EmailAddress=resources.mail_from)
    dynamodb = session.client("dynamodb")
    existing = set(dynamodb.list_tables()["TableNames"])
    for table in resources.tables:
        if table.name not in existing:
            create_table(dynamodb, table)
    create_state_machines(resources, session)


def create_state_machines(resources: Resources, session: Any) -> None:
    """Each declared state machine, its tasks pointing at the stage's functions (which the
    local runtime answers Lambda's Invoke for). Glue and Athena are AWS only: locally DuckDB
    reads the lake."""
    from chalicelib.erasure.state_machine import DEFINITIONS, lambda_arn

    if not resources.state_machines:
        return
    sfn = session.client("stepfunctions")
    existing = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    account = session.client("sts").get_caller_identity()["Account"]
    arn_of = lambda_arn(session.region_name, account, resources.app, resources.stage)
    for machine in resources.state_machines:
        if machine.name not in existing:
            sfn.create_state_machine(
                name=machine.name,
                definition=json.dumps(DEFINITIONS[machine.key](arn_of)),
                roleArn=f"arn:aws:iam::{account}:role/{machine.name}-sfn",
            )


def create_bucket(s3: Any, name: str, region: str) -> None:
    if region == "us-east-1":  # the one region S3 refuses a location constraint for
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


def create_queue(sqs: Any, queue: Queue, visibility_timeout: int | None = None) -> str:
    """Create a queue and its dead-letter queue; return the queue's URL."""
    attributes: dict[str, str] = {
        "VisibilityTimeout": str(visibility_timeout or queue.visibility_timeout),
        "MessageRetentionPeriod": str(queue.retention_seconds),
    }
    if queue.fifo:
        attributes["FifoQueue"] = "true"
        attributes["ContentBasedDeduplication"] = "false"
    if queue.dead_letter is not None:
        dlq_url = _create_dead_letter_queue(sqs, queue.dead_letter)
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue.max_receive_count)}
        )
    return sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]


def _create_dead_letter_queue(sqs: Any, dlq: DeadLetterQueue) -> str:
    attributes = {"MessageRetentionPeriod": str(dlq.retention_seconds)}
    if dlq.fifo:
        attributes["FifoQueue"] = "true"
    return sqs.create_queue(QueueName=dlq.name, Attributes=attributes)["QueueUrl"]


def create_table(dynamodb: Any, table: Table) -> None:
    key_schema = [{"AttributeName": table.hash_key, "KeyType": "HASH"}]
    if table.range_key:
        key_schema.append({"AttributeName": table.range_key, "KeyType": "RANGE"})
    request: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": key_schema,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind} for name, kind in table.attributes.items()
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.hash_key, "KeyType": "HASH"}]
                + ([{"AttributeName": index.range_key, "KeyType": "RANGE"}] if index.range_key else []),
                "Projection": {"ProjectionType": index.projection}
                | ({"NonKeyAttributes": list(index.non_key_attributes)} if index.non_key_attributes else {}),
            }
            for index in table.indexes
        ]
    dynamodb.create_table(**request)
    if table.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )
