"""Erasure tombstones in the config table: pseudonymous ids and a time, read 100 keys at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from chalicelib.resources import for_stage
from chalicelib.subjects.tombstones import RETENTION, DynamoTombstones

TABLE = for_stage("local").table("config").name
ERASED_AT = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_tombstones_are_found_across_many_batch_gets_and_hold_no_personal_data(stack: boto3.Session) -> None:
    dynamodb = stack.client("dynamodb")
    tombstones = DynamoTombstones(TABLE, dynamodb)
    erased = [f"{n:064x}" for n in range(250)]
    # WHEN 250 subjects are tombstoned and 300 (250 of them erased) looked up
    assert tombstones.bury(erased, ERASED_AT, "ej-1") == 250
    found = tombstones.erased_at(erased + [f"{n:064x}" for n in range(1000, 1050)])
    # THEN every erased subject is found with its time, no other
    assert found == {subject: ERASED_AT for subject in erased}
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"gdpr-erased#{erased[0]}"}, "sk": {"S": "tombstone"}})[
        "Item"
    ]
    assert set(item) == {"pk", "sk", "erased_at", "job_id", "expires_at"}
    assert int(item["expires_at"]["N"]) == int((ERASED_AT + RETENTION).timestamp())


def test_a_later_erasure_moves_the_time_forward_and_a_retried_older_job_does_not_move_it_back(
    stack: boto3.Session,
) -> None:
    tombstones = DynamoTombstones(TABLE, stack.client("dynamodb"))
    subject = "a" * 64
    tombstones.bury([subject], ERASED_AT, "ej-1")
    assert tombstones.bury([subject], ERASED_AT + timedelta(days=30), "ej-2") == 1
    assert tombstones.bury([subject], ERASED_AT, "ej-1") == 0
    assert tombstones.erased_at([subject]) == {subject: ERASED_AT + timedelta(days=30)}


def test_the_config_table_expires_tombstones_by_ttl(stack: boto3.Session) -> None:
    ttl = stack.client("dynamodb").describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"
