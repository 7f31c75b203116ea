"""Moving messages between queues: a dead-letter queue's replay, once the cause is fixed.

The messages go back as they are (the handlers are idempotent); a message is deleted from
the DLQ only after its copy was accepted, so a replay that fails half-way loses nothing.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def move_messages(sqs: Any, dlq_url: str, queue_url: str, limit: int = 1000) -> int:
    """Move up to `limit` messages from a dead-letter queue back to its queue; returns how many."""
    moved = 0
    while moved < limit:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        if not batch:
            break
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(index), "MessageBody": message["Body"]} for index, message in enumerate(batch)],
        )
        sent = {int(entry["Id"]) for entry in response.get("Successful", [])}
        done = [batch[index] for index in sorted(sent)]
        if done:
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(done)
                ],
            )
        moved += len(done)
        if len(done) < len(batch):
            log.warning("%d messages could not be moved back; they stay in the DLQ", len(batch) - len(done))
            break
    return moved
