"""Which lake partitions the anonymization has finished, and under which policies.

Without these marks every daily run would read every object of every partition past its
retention date again, forever: a lake that grows for years would be read whole each day.
A partition is marked once all the policies that can apply to it are due for its event
date (so no row of it can become due later) and a run has anonymized all of it. A later
run reads only objects written after the mark (late records of an old event, rewrites by
an erasure), or all of the partition again if the policies that apply to its source changed.

Items (config table): `gdpr-anonymized` / `{source}/{event_date}` holding the policies'
fingerprint and the time the run listed the partition. One item per partition, written
once per partition and policy change: thousands of small items, read in one Query per run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from chalicelib.anonymization.anonymize import RetentionPolicy

_PARTITION = "gdpr-anonymized"


@dataclass(frozen=True)
class PartitionMark:
    fingerprint: str  # of the policies that apply to the partition's source
    listed_at: str  # ISO time before the run listed the partition: later objects are new


def partition_id(source: str, event_day: date) -> str:
    return f"{source}/{event_day.isoformat()}"


def applicable(policies: Iterable[RetentionPolicy], source: str) -> list[RetentionPolicy]:
    """Every policy that may apply to some row of this source (any event)."""
    return [p for p in policies if p.source in (None, source)]


def fingerprint(policies: Iterable[RetentionPolicy]) -> str:
    dumped = sorted(json.dumps(p.model_dump(mode="json", exclude_none=True), sort_keys=True) for p in policies)
    return hashlib.sha256("\n".join(dumped).encode()).hexdigest()[:32]


def fully_due(policies: Iterable[RetentionPolicy], event_day: date, today: date) -> bool:
    """True when no row of this partition can become due later (every policy is due now)."""
    policies = list(policies)
    return bool(policies) and all(p.is_due(event_day, today) for p in policies)


class AnonymizationMarks(Protocol):
    def all(self) -> dict[str, PartitionMark]: ...

    def put(self, partition: str, mark: PartitionMark) -> None: ...


class InMemoryAnonymizationMarks:
    def __init__(self) -> None:
        self.marks: dict[str, PartitionMark] = {}

    def all(self) -> dict[str, PartitionMark]:
        return dict(self.marks)

    def put(self, partition: str, mark: PartitionMark) -> None:
        self.marks[partition] = mark


class DynamoAnonymizationMarks:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    def all(self) -> dict[str, PartitionMark]:
        marks: dict[str, PartitionMark] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": _PARTITION}},
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                marks[item["sk"]["S"]] = PartitionMark(item["fingerprint"]["S"], item["listed_at"]["S"])
            if "LastEvaluatedKey" not in page:
                return marks
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put(self, partition: str, mark: PartitionMark) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": _PARTITION},
                "sk": {"S": partition},
                "fingerprint": {"S": mark.fingerprint},
                "listed_at": {"S": mark.listed_at},
            },
        )
