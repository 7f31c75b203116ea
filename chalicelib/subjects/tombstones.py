"""Erasure tombstones: which pseudonymous subjects were erased, and when.

An erasure job removes a subject from the buckets, the State Keeper and SAP; a copy of
their data still on its way (a chunk on the normalize queue or in its DLQ, a record on
the SAP dispatch queue or in its DLQ, an old file delivered again) would bring them back.
A tombstone stops it: the normalize step and the SAP dispatcher look up the subjects they
handle and drop every record of a tombstoned subject whose interaction happened at or
before `erased_at` (a later interaction is a new, lawful record and goes through).

A tombstone holds the pseudonymous subject id (keyed HMAC of the email), the time and the
job id: no email, name or phone. The erasure job writes them in its first find round,
before it scans the lake (`ErasureWorkflow.find`).

Items (config table, `pk`/`sk`): `gdpr-erased#{subject_id}` / `tombstone` with `erased_at`
(ISO 8601 UTC, fixed width so strings compare like times), `job_id` and `expires_at` (the
table's TTL attribute). One partition per subject, unlike the few-item partitions of
`anonymization/policies.py`: normalize and dispatch read them with BatchGetItem (100 keys a
call) from many functions at once, and the keys spread over the table instead of one hot
partition. A later erasure of the same subject moves `erased_at` forward, never back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.subjects.exceptions import TombstonesUnavailable

_PARTITION_PREFIX = "gdpr-erased#"
_SORT_KEY = "tombstone"
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
BATCH_GET_ATTEMPTS = 8
# Longer than anything a copy can wait in: the queues (4 days) and DLQs (14 days) with
# replays, the dispatch ledger (35 days), and a platform sending a year's export again.
RETENTION = timedelta(days=400)
# the State Keeper's reason code for a record a tombstone kept out (normalize, dispatch)
SUBJECT_ERASED = "SUBJECT_ERASED"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("an erasure time must carry a time zone (UTC)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def covered(occurred_at: datetime | None, erased_at: datetime) -> bool:
    """Whether a record that happened at `occurred_at` falls under an erasure at `erased_at`.

    A record without a readable time cannot prove it is newer: it is covered.
    """
    if occurred_at is None:
        return True
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return occurred_at <= erased_at


class Tombstones(Protocol):
    def erased_at(self, subject_ids: Iterable[str]) -> dict[str, datetime]:
        """The erasure time of each of the subjects that has a tombstone (others are absent)."""

    def bury(self, subject_ids: Collection[str], erased_at: datetime, job_id: str) -> int:
        """Write (or move forward) the subjects' tombstones; returns the items written."""


class InMemoryTombstones:
    def __init__(self, erased: dict[str, datetime] | None = None) -> None:
        self.erased = dict(erased or {})
        self.lookups: list[list[str]] = []  # the subject ids of each lookup, for tests
        self._lock = threading.Lock()

    def erased_at(self, subject_ids: Iterable[str]) -> dict[str, datetime]:
        ids = sorted(set(subject_ids))
        with self._lock:
            self.lookups.append(ids)
            return {s: self.erased[s] for s in ids if s in self.erased}

    def bury(self, subject_ids: Collection[str], erased_at: datetime, job_id: str) -> int:
        _iso(erased_at)
        written = 0
        with self._lock:
            for subject_id in set(subject_ids):
                if subject_id not in self.erased or self.erased[subject_id] < erased_at:
                    self.erased[subject_id] = erased_at
                    written += 1
        return written


class DynamoTombstones:
    """The tombstones in the config table (adapters take their client)."""

    def __init__(
        self, table_name: str, client: Any, *, retention: timedelta = RETENTION, sleep: Any = time.sleep
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.retention = retention
        self.sleep = sleep

    @staticmethod
    def _key(subject_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{_PARTITION_PREFIX}{subject_id}"}, "sk": {"S": _SORT_KEY}}

    def erased_at(self, subject_ids: Iterable[str]) -> dict[str, datetime]:
        ids = sorted(set(subject_ids))
        found: dict[str, datetime] = {}
        for start in range(0, len(ids), BATCH_GET_KEYS):
            for item in self._batch_get([self._key(s) for s in ids[start : start + BATCH_GET_KEYS]]):
                subject_id = item["pk"]["S"].removeprefix(_PARTITION_PREFIX)
                found[subject_id] = datetime.fromisoformat(item["erased_at"]["S"])
        return found

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        # eventually consistent (half the read units, on every chunk and dispatch run): the job
        # waits out its settle time after writing the tombstones, long past replication lag
        request: dict[str, Any] = {self.table_name: {"Keys": keys, "ProjectionExpression": "pk, erased_at"}}
        for attempt in range(BATCH_GET_ATTEMPTS):
            response = self.client.batch_get_item(RequestItems=request)
            items += response.get("Responses", {}).get(self.table_name, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            self.sleep(min(1.0, 0.05 * 2**attempt))
        # never answer "not erased" for a key we could not read: the caller retries the batch
        raise TombstonesUnavailable(f"{len(request[self.table_name]['Keys'])} tombstones could not be read")

    def bury(self, subject_ids: Collection[str], erased_at: datetime, job_id: str) -> int:
        at = _iso(erased_at)
        expires = int((erased_at + self.retention).timestamp())
        written = 0
        for subject_id in sorted(set(subject_ids)):
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=self._key(subject_id),
                    UpdateExpression="SET #erased_at = :at, #job_id = :job, #expires_at = :expires",
                    # a retried or older job never moves the erasure time back
                    ConditionExpression="attribute_not_exists(pk) OR #erased_at < :at",
                    ExpressionAttributeNames={
                        "#erased_at": "erased_at",
                        "#job_id": "job_id",
                        "#expires_at": "expires_at",
                    },
                    ExpressionAttributeValues={
                        ":at": {"S": at},
                        ":job": {"S": job_id},
                        ":expires": {"N": str(expires)},
                    },
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                continue
            written += 1
        return written
