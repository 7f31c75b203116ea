"""Handing queues to handlers as Lambda would, and reading what the intake wrote."""

from __future__ import annotations

import time
from typing import Any

import boto3

from chalicelib import wiring
from chalicelib.ingest.uploads import file_id_from_key
from chalicelib.resources import for_stage

RESOURCES = for_stage("local")
RAW = RESOURCES.bucket("raw").name


def queue_url(session: boto3.Session, key: str) -> str:
    name = {q.key: q.name for q in RESOURCES.all_queues()}[key]
    return session.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def lambda_records(session: boto3.Session, key: str, wait: float = 0.0) -> list[dict[str, Any]]:
    """What the queue holds now, as Lambda's SQS records (received, still on the queue)."""
    sqs, url = session.client("sqs"), queue_url(session, key)
    deadline = time.monotonic() + wait
    records: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
        ).get("Messages", [])
        records += [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
            }
            for m in messages
        ]
        if not messages and (records or time.monotonic() >= deadline):
            return records
        if not messages:
            time.sleep(0.2)


def run_handler(session: boto3.Session, key: str, handler: Any) -> dict[str, Any]:
    """Hand the queue's messages to `handler`, delete those it did not report failed."""
    records = lambda_records(session, key)
    if not records:
        return {"batchItemFailures": []}
    result: dict[str, Any] = handler(records)
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    sqs, url = session.client("sqs"), queue_url(session, key)
    for record in records:
        if record["messageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return result


def raw_keys(session: boto3.Session, prefix: str) -> list[str]:
    listed = session.client("s3").list_objects_v2(Bucket=RAW, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def settle(session: boto3.Session, key: str) -> dict[str, int]:
    """Split, normalize and keep the state of one raw file; its records per state."""
    wiring.ingest().split_file(RAW, key)
    assert run_handler(session, "normalize", wiring.normalizer().handle) == {"batchItemFailures": []}
    assert run_handler(session, "state-changes", wiring.state_keeper().handle) == {"batchItemFailures": []}
    states: dict[str, int] = wiring.state_queries().file_outcome(file_id_from_key(key))["states"]
    return states


def source_status(name: str) -> dict[str, Any]:
    return wiring.source_states().status(name)
