"""Collect queued webhook deliveries into raw files: one file per platform and batch.

A batch of the webhook queue (up to hundreds of deliveries, gathered in a batching
window) becomes one raw file per platform in the raw bucket, of the source format its
connector reads: Google leads as a JSON array, Meta leads (fetched from the Graph API by
their `leadgen_id`) as a Graph `data` page, Eventbrite attendees (fetched from the
notification's checked `api_url`) as a list-attendees page. So a million single-lead
webhooks become a few thousand raw files, chunks and lake objects, not a million.

Meta and Eventbrite notifications name what to fetch; they are kept as they came under
`deliveries/{platform}/` in the raw bucket before the fetch. Deliveries whose id was
stored before (a platform's retry) are dropped; the id is marked only after the file is
written, so a crash in between stores the delivery again, never loses it. When a
platform's fetch fails, that platform's messages are left on the queue with a backoff
(their visibility, at least the platform's Retry-After) and come back; after the
queue's maxReceiveCount they are parked in the DLQ, which `dlq_watch` reports and
`POST /sources/replay` moves back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.ingest.uploads import file_id_for, put_raw_file
from chalicelib.intake.catalogue import intake_source
from chalicelib.intake.deliveries import Delivery, DeliveryItem
from chalicelib.intake.exceptions import IntakeError, PlatformUnavailable
from chalicelib.intake.source_states import DynamoSourceStates
from chalicelib.retries import backoff_seconds

log = logging.getLogger(__name__)

DELIVERIES_PREFIX = "deliveries/"
NOTIFYING = frozenset({"meta", "eventbrite"})  # platforms whose deliveries name what to fetch

# the items of one platform in one batch -> the records to store (fetched where needed)
Fetch = Callable[[list[DeliveryItem]], list[dict[str, Any]]]


def raw_page(raw_source: str, records: list[dict[str, Any]]) -> bytes:
    """The records as a file of their connector's format."""
    if raw_source == "facebook_leads":
        return json.dumps({"data": records}).encode()
    if raw_source == "eventbrite":
        return json.dumps({"pagination": {"object_count": len(records)}, "attendees": records}).encode()
    return json.dumps(records).encode()  # a top-level array of records (Google leads)


@dataclass
class Collected:
    deliveries: int = 0
    duplicates: int = 0
    files: dict[str, str] = field(default_factory=dict)  # intake source -> raw key written
    failed: dict[str, str] = field(default_factory=dict)  # intake source -> error class
    unreadable: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries,
            "duplicates": self.duplicates,
            "files": self.files,
            "failed": self.failed,
            "unreadable": self.unreadable,
        }


class DeliveryCollector:
    def __init__(
        self,
        s3: Any,
        raw_bucket: str,
        states: DynamoSourceStates,
        fetchers: Mapping[str, Fetch],
        sqs: Any,
        queue_url: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_base_seconds: float = 30.0,
    ) -> None:
        self.s3 = s3
        self.raw_bucket = raw_bucket
        self.states = states
        self.fetchers = fetchers
        self.sqs = sqs
        self.queue_url = queue_url
        self.clock = clock
        self.retry_base_seconds = retry_base_seconds
        self.last = Collected()

    def handle(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """An SQS batch (Lambda's record dicts); answers Lambda's partial batch response."""
        collected = Collected()
        by_source: dict[str, list[tuple[dict[str, Any], Delivery]]] = {}
        for record in records:
            try:
                delivery = Delivery.model_validate_json(record["body"])
                intake_source(delivery.source)
            except (ValidationError, IntakeError):
                collected.unreadable += 1  # not ours to retry: dropped, and counted
                log.warning("webhook queue message %s is not a delivery; dropped", record.get("messageId"))
                continue
            by_source.setdefault(delivery.source, []).append((record, delivery))
        failures: list[dict[str, str]] = []
        for source, batch in by_source.items():
            try:
                self._collect(source, [delivery for _, delivery in batch], collected)
            except IntakeError as error:
                collected.failed[source] = type(error).__name__
                log.warning("collecting %d %s deliveries failed: %s", len(batch), source, error)
                self.states.count(source, {"fetch_failures": 1}, {"last_error": f"{type(error).__name__}: {error}"})
                retry_after = error.retry_after if isinstance(error, PlatformUnavailable) else None
                for record, _ in batch:
                    self._back_off(record, retry_after)
                    failures.append({"itemIdentifier": record["messageId"]})
        self.last = collected
        return {"batchItemFailures": failures}

    def _collect(self, source: str, deliveries: list[Delivery], collected: Collected) -> None:
        declared = intake_source(source)
        items = [item for delivery in deliveries for item in delivery.items]
        collected.deliveries += len(items)
        with_ids = {item.delivery_id for item in items if item.delivery_id}
        fresh_ids = self.states.unseen(source, with_ids) if with_ids else set()
        unique: dict[str, DeliveryItem] = {}
        fresh: list[DeliveryItem] = []
        for item in items:
            if item.delivery_id is None:
                fresh.append(item)
            elif item.delivery_id in fresh_ids and item.delivery_id not in unique:
                unique[item.delivery_id] = item
                fresh.append(item)
        collected.duplicates += len(items) - len(fresh)
        stored = 0
        if fresh and declared.name in NOTIFYING:
            self._keep_notifications(declared.name, fresh)
        if fresh:
            records = self.fetchers[source](fresh)
            if records:
                body = raw_page(declared.raw_source, records)
                key = put_raw_file(self.s3, self.raw_bucket, declared.raw_source, body, ".json", self.clock())
                collected.files[source] = key
                stored = len(records)
            self.states.mark_stored(source, unique)
        self.states.count(
            source,
            {
                "webhooks_accepted": len(items),
                "webhook_duplicates": len(items) - len(fresh),
                "webhook_records_stored": stored,
                "webhook_files": 1 if stored else 0,
            },
            {"last_webhook_at": self.clock().isoformat(timespec="seconds")},
        )

    def _keep_notifications(self, source: str, items: list[DeliveryItem]) -> None:
        """The notifications, as received, in the raw bucket before anything is fetched for
        them: the lineage of the fetched files. Ids and URLs only, no personal data; outside
        `incoming/`, so nothing splits them."""
        body = json.dumps([item.data for item in items], sort_keys=True).encode()
        key = f"{DELIVERIES_PREFIX}{source}/{self.clock():%Y/%m/%d}/{file_id_for(body)}.json"
        self.s3.put_object(Bucket=self.raw_bucket, Key=key, Body=body, Metadata={"source": source})

    def _back_off(self, record: dict[str, Any], retry_after: float | None) -> None:
        """Leave a failed message invisible for a jittered, growing while (at least what the
        platform asked for) before it comes back."""
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        delay = backoff_seconds(receives, retry_after=retry_after, base=self.retry_base_seconds, cap=900.0)
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=delay
            )
        except Exception as error:  # noqa: BLE001 - the queue's own visibility timeout applies instead
            log.warning("could not delay a failed delivery: %s", type(error).__name__)
