"""A verified webhook delivery on its way to the raw bucket: the webhook queue's messages.

The webhook route verifies a delivery and queues it (one message, a few milliseconds, so
the platform gets its 200 at once); the collector takes the queue in batches and writes
one raw file per platform and batch (`collect_deliveries.py`). The queue holds the
delivery durably until then, for up to four days, and its DLQ keeps what could not be
fetched. A message has no attributes: what it carries stays in its body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field


class DeliveryItem(BaseModel):
    """One thing a delivery names: a Google lead (the record itself), a Meta `leadgen`
    change (ids only) or an Eventbrite notification (action and the checked API URL)."""

    delivery_id: str | None = None  # what a platform's retry repeats (a lead id); None: no such id
    data: dict[str, Any]


class Delivery(BaseModel):
    source: str  # the intake source (catalogue.py), e.g. "meta"
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    items: list[DeliveryItem]


class WebhookInbox:
    """Queues verified deliveries for the collector."""

    def __init__(self, queue_url: str, sqs: Any) -> None:
        self.queue_url = queue_url
        self.sqs = sqs

    def put(self, delivery: Delivery) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=delivery.model_dump_json())
