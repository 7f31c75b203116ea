"""SQS batches within SQS's limits, and replays: a DLQ's messages moved back to its queue,
and the failed asynchronous invocations in the on-failure queue invoked again.

`send_batches` packs messages into SendMessageBatch calls: at most ten entries, and at
most `MAX_BATCH_BYTES` of bodies together (SQS refuses a larger call whole, with
BatchRequestTooLong). A replay moves a dead-letter queue's messages back as they are (the
handlers are idempotent); a message is deleted from the DLQ only after its copy was
accepted, so a replay that fails half-way loses nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger(__name__)

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 250 * 1024  # the sum of a SendMessageBatch call's bodies; SQS's limit is 256 KiB
T = TypeVar("T")


def packed(items: Iterable[T], max_count: int, max_bytes: int, size: Callable[[T], int]) -> Iterator[list[T]]:
    """`items` in order, in lists of at most `max_count` and `max_bytes` (by `size`); an item
    larger than `max_bytes` on its own makes a list of its own."""
    batch: list[T] = []
    used = 0
    for item in items:
        item_size = size(item)
        if batch and (len(batch) >= max_count or used + item_size > max_bytes):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += item_size
    if batch:
        yield batch


def send_batches(messages: Iterable[T], body: Callable[[T], str]) -> Iterator[list[T]]:
    """`messages` in order, grouped for SendMessageBatch calls (`body` gives each one's body)."""
    return packed(messages, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES, lambda message: len(body(message).encode()))


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


@dataclass
class InvocationsReplayed:
    invoked: int = 0
    left: int = 0  # records naming no replayable function, or not a Lambda invocation record
    by_function: dict[str, int] = field(default_factory=dict)


def replay_failed_invocations(
    sqs: Any, lambda_client: Any, queue_url: str, functions: Collection[str], limit: int = 1000
) -> InvocationsReplayed:
    """Invoke again, asynchronously, the events Lambda put in the on-failure queue.

    Each message is Lambda's invocation record (`requestContext.functionArn`, the original
    event as `requestPayload`). The event goes back to the function it failed in, if that is
    one of `functions` (deployed names); a message is deleted only once Lambda took the
    event. Other messages stay, and are counted as left. Every function invoked this way
    is idempotent, as for Lambda's own retries."""
    replayed = InvocationsReplayed()
    seen: set[str] = set()
    while replayed.invoked + replayed.left < limit:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        fresh = [message for message in batch if message["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh[: limit - replayed.invoked - replayed.left]:
            seen.add(message["MessageId"])
            target = _failed_invocation(message["Body"])
            if target is None or target[0] not in functions:
                replayed.left += 1
                continue
            function, event = target
            lambda_client.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode())
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            replayed.invoked += 1
            replayed.by_function[function] = replayed.by_function.get(function, 0) + 1
    return replayed


def _failed_invocation(body: str) -> tuple[str, Any] | None:
    """(function name, original event) of a Lambda invocation record; None for anything else."""
    try:
        record = json.loads(body)
        arn = record["requestContext"]["functionArn"]
        event = record["requestPayload"]
    except (ValueError, KeyError, TypeError):
        return None
    parts = str(arn).split(":")  # arn:aws:lambda:region:account:function:name[:qualifier]
    return (parts[6], event) if len(parts) >= 7 and parts[5] == "function" else None
