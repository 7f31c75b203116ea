"""SQS batches within SQS's limits, and moving messages between queues (a DLQ's replay).

`send_batches` packs messages into SendMessageBatch calls: at most ten entries, and at
most `MAX_BATCH_BYTES` of bodies together (SQS refuses a larger call whole, with
BatchRequestTooLong). A replay moves a dead-letter queue's messages back as they are (the
handlers are idempotent); a message is deleted from the DLQ only after its copy was
accepted, so a replay that fails half-way loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 250 * 1024  # the sum of a SendMessageBatch call's bodies; SQS's limit is 256 KiB
T = TypeVar("T")


def send_batches(messages: Iterable[T], body: Callable[[T], str]) -> Iterator[list[T]]:
    """`messages` in order, grouped for SendMessageBatch calls (`body` gives each one's body)."""
    batch: list[T] = []
    size = 0
    for message in messages:
        length = len(body(message).encode())
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + length > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += length
    if batch:
        yield batch


def move_messages(sqs: Any, dlq_url: str, queue_url: str, limit: int = 1000) -> int:
    """Move up to `limit` messages from a dead-letter queue back to its queue; returns how many."""
    moved = 0
    while moved < limit:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        if not batch:
            break
        done = []
        for part in send_batches(batch, lambda message: message["Body"]):
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(index), "MessageBody": message["Body"]} for index, message in enumerate(part)],
            )
            sent = {int(entry["Id"]) for entry in response.get("Successful", [])}
            done += [part[index] for index in sorted(sent)]
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
