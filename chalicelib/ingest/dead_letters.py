"""Chunks that could not be normalized: parked in the normalize DLQ, reported, replayable.

A chunk lands in the dead-letter queue after the normalize queue's maxReceiveCount
failures (S3 down, a bug). `park_dead_chunks` reports each of its records PARKED, so the
State Keeper shows where they are, and leaves the messages where they are. It runs with
every `dlq_watch`; a second run reports the same changes (same time: the message's send
time), which the State Keeper stores once. `chalicelib.queues.move_messages` moves the messages back to
the normalize queue once the cause is fixed; normalizing is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.ingest.messages import ChunkMessage
from chalicelib.normalize.normalizer import raw_document_id
from chalicelib.raw_files.records import RawRecord
from chalicelib.state_keeper.lifecycle import State, StateChange

log = logging.getLogger(__name__)

COMPONENT = "normalize-dlq"
REASON = "NORMALIZE_FAILED"


@dataclass
class DeadChunks:
    chunks: int = 0
    records: int = 0
    unreadable: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"chunks": self.chunks, "records": self.records, "unreadable": self.unreadable}

    def mail_section(self) -> str:
        """Counts only: no record content goes out by mail."""
        if not (self.chunks or self.unreadable):
            return ""
        return (
            f"Normalize: {self.chunks} chunk(s) in the dead-letter queue, {self.records} record(s) "
            f"PARKED, {self.unreadable} unreadable message(s). Replay them once the cause is fixed: "
            "POST /ingest/replay (admin) or the replay_normalize_dead_letters function."
        )


def _peek(sqs: Any, queue_url: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` messages, each seen once (visibility keeps them from coming back at once)."""
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30, AttributeNames=["SentTimestamp"]
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update((m["MessageId"], m) for m in fresh)
    return list(seen.values())


def park_dead_chunks(sqs: Any, dlq_url: str, reporter: Callable[[], Any], limit: int = 1000) -> DeadChunks:
    found = DeadChunks()
    messages = _peek(sqs, dlq_url, limit)
    with reporter() as report:
        for message in messages:
            try:
                chunk = ChunkMessage.model_validate_json(message["Body"])
            except ValidationError:
                found.unreadable += 1
                continue
            parked_at = datetime.fromtimestamp(int(message["Attributes"]["SentTimestamp"]) / 1000, UTC)
            found.chunks += 1
            for item in chunk.records:
                document_id = raw_document_id(
                    chunk.source, RawRecord(item.position, item.source_record_id, item.data), chunk.raw_key
                )
                for state, at in (
                    (State.RECEIVED, chunk.ingested_at),
                    (State.PARKED, max(parked_at, chunk.ingested_at)),
                ):
                    report.report(
                        StateChange(
                            document_id=document_id,
                            state=state,
                            at=at,
                            component=COMPONENT,
                            reason_code=REASON if state is State.PARKED else None,
                            file_id=chunk.file_id,
                            chunk_id=chunk.chunk_id,
                            source=chunk.source,
                        )
                    )
                found.records += 1
    # Make them visible again at once: parking is a report, not a receive.
    for message in messages:
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    if found.chunks:
        log.warning("normalize DLQ holds %d chunks (%d records) reported PARKED", found.chunks, found.records)
    return found
