"""Dispatch messages that kept failing: parked in the SAP DLQ, reported PARKED, replayable.

A message lands in the SAP dead-letter queue after the dispatch queue's maxReceiveCount
receives (SAP down for hours, a bug). `park_dead_letters` runs with every `dlq_watch`: it
reads the messages without taking them (their visibility is reset at once), marks each
record that SAP does not hold yet as parked in the dispatch ledger, and reports it PARKED
at its first parked time, so a second watch reports the same change (stored once).
Records of the message that reached a final state before (a message fails as a whole)
keep it. `ParkedLetters.mail_section` is the watch's summary: counts and document ids.

`replay_dead_letters` moves messages back to the FIFO queue, in their message group, with
a new deduplication id (the original may still be in SQS's five-minute window), and
reports their unfinished records QUEUED_FOR_SAP again. A replayed record SAP already holds
is answered by the dispatch ledger, so a replay never creates anything twice in SAP.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.queues import send_batches
from chalicelib.sap.ledger import DispatchLedger
from chalicelib.sap.payloads import DispatchMessage
from chalicelib.state_keeper.lifecycle import State, StateChange

log = logging.getLogger(__name__)

PARK_COMPONENT = "sap-dlq"
REPLAY_COMPONENT = "sap-replay"
RETRY_COMPONENT = "sap-retry"
REASON = "SAP_RETRIES_EXHAUSTED"
MAIL_ID_LIMIT = 200


@dataclass
class ParkedLetters:
    messages: int = 0
    records: int = 0  # records reported PARKED
    final: int = 0  # records of dead messages that SAP holds (or rejected) already
    unreadable: int = 0
    document_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "parked_records": self.records,
            "final_records": self.final,
            "unreadable_messages": self.unreadable,
        }

    def mail_section(self) -> str:
        """Counts and document ids only: no personal data goes out by mail."""
        if not self.messages:
            return ""
        lines = [
            f"SAP dispatch: {self.messages} message(s) in the dead-letter queue; "
            f"{self.records} record(s) PARKED, {self.final} already final, "
            f"{self.unreadable} unreadable message(s).",
            "Replay them once SAP is fine again: POST /sap/replay (admin) or the replay_sap_dead_letters function.",
        ]
        if self.document_ids:
            shown = sorted(self.document_ids)[:MAIL_ID_LIMIT]
            lines.append("Parked documents:")
            lines += [f"  {document_id}" for document_id in shown]
            if len(self.document_ids) > len(shown):
                lines.append(f"  … and {len(self.document_ids) - len(shown)} more (GET /documents?state=PARKED)")
        return "\n".join(lines)


@dataclass
class Replayed:
    messages: int = 0
    records: int = 0  # records reported QUEUED_FOR_SAP again

    def as_dict(self) -> dict[str, int]:
        return {"messages": self.messages, "requeued_records": self.records}


def _peek(sqs: Any, queue_url: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` messages, each seen once (visibility keeps them from coming back at once)."""
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30, AttributeNames=["All"]
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update((m["MessageId"], m) for m in fresh)
    return list(seen.values())


def _records(message: dict[str, Any]) -> dict[str, str] | None:
    """record id -> its document, of a dispatch message; None when the body is not one."""
    try:
        return {
            record.record_id: record.document for record in DispatchMessage.model_validate_json(message["Body"]).records
        }
    except ValidationError:
        return None


def park_dead_letters(
    sqs: Any, dlq_url: str, ledger: DispatchLedger, reporter: Callable[[], Any], limit: int = 1000
) -> ParkedLetters:
    found = ParkedLetters()
    messages = _peek(sqs, dlq_url, limit)
    try:
        with reporter() as report:
            for message in messages:
                found.messages += 1
                record_ids = _records(message)
                if record_ids is None:
                    found.unreadable += 1
                    continue
                parked = ledger.park_many(list(record_ids))
                found.final += len(set(record_ids) - set(parked))
                for record_id, parked_at in parked.items():
                    report.report(
                        StateChange(
                            document_id=record_ids[record_id],
                            state=State.PARKED,
                            component=PARK_COMPONENT,
                            reason_code=REASON,
                            at=datetime.fromtimestamp(parked_at, UTC),
                            sap_batch_id=message["MessageId"],
                        )
                    )
                found.records += len(parked)
                found.document_ids.extend(parked)
    finally:
        # parking is a report, not a receive: the messages stay, visible, for a replay
        for start in range(0, len(messages), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for index, message in enumerate(messages[start : start + 10])
                ],
            )
    if found.messages:
        log.warning("SAP DLQ holds %d messages: %d records reported PARKED", found.messages, found.records)
    return found


def replay_dead_letters(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    ledger: DispatchLedger,
    reporter: Callable[[], Any],
    limit: int = 1000,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Replayed:
    """Move up to `limit` messages from the SAP DLQ back to the dispatch queue."""
    replayed = Replayed()
    replay_id = uuid.uuid4().hex
    with reporter() as report:
        while replayed.messages < limit:
            batch = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=min(10, limit - replayed.messages),
                VisibilityTimeout=60,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            queued_at = clock()  # before the send: a fast dispatcher's DELIVERED must come later
            done = []
            for part in send_batches(batch, lambda message: message["Body"]):
                response = sqs.send_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {
                            "Id": str(index),
                            "MessageBody": message["Body"],
                            "MessageGroupId": message.get("Attributes", {}).get("MessageGroupId") or "replayed",
                            "MessageDeduplicationId": hashlib.sha256(
                                f"{replay_id}:{message['MessageId']}".encode()
                            ).hexdigest(),
                        }
                        for index, message in enumerate(part)
                    ],
                )
                done += [part[int(entry["Id"])] for entry in response.get("Successful", [])]
            if done:
                sqs.delete_message_batch(
                    QueueUrl=dlq_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(done)
                    ],
                )
            for message in done:
                record_ids = _records(message) or {}
                for record_id in sorted(ledger.unpark_many(list(record_ids))):
                    report.report(
                        StateChange(
                            document_id=record_ids[record_id],
                            state=State.QUEUED_FOR_SAP,
                            at=queued_at,
                            component=REPLAY_COMPONENT,
                        )
                    )
                    replayed.records += 1
            replayed.messages += len(done)
            if len(done) < len(batch):
                log.warning("%d messages could not be moved back; they stay in the DLQ", len(batch) - len(done))
                break
    return replayed


def retry_parked_record(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    ledger: DispatchLedger,
    reporter: Callable[[], Any],
    document_id: str,
    limit: int = 1000,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> bool:
    """Send one parked document's records again, alone, from the dead-letter message that holds them.

    The replay path for one document (`POST /documents/{id}/retry`): the message stays in
    the DLQ for its other records; a later replay of it finds these records final in the
    ledger and sends them no second time. False when no DLQ message holds the document, or
    its records are final already.
    """
    messages = _peek(sqs, dlq_url, limit)
    try:
        for message in messages:
            try:
                parsed = DispatchMessage.model_validate_json(message["Body"])
            except ValidationError:
                continue
            records = [record for record in parsed.records if record.document == document_id]
            if not records:
                continue
            unparked = ledger.unpark_many([record.record_id for record in records])
            records = [record for record in records if record.record_id in unparked]
            if not records:
                return False
            queued_at = clock()  # before the send, as in a replay
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=parsed.model_copy(update={"records": records}).model_dump_json(),
                MessageGroupId=message.get("Attributes", {}).get("MessageGroupId") or "replayed",
                MessageDeduplicationId=hashlib.sha256(f"retry:{uuid.uuid4().hex}:{document_id}".encode()).hexdigest(),
            )
            with reporter() as report:
                report.report(
                    StateChange(
                        document_id=document_id, state=State.QUEUED_FOR_SAP, at=queued_at, component=RETRY_COMPONENT
                    )
                )
            return True
        return False
    finally:
        for start in range(0, len(messages), 10):  # the messages stay, visible, as parking leaves them
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for index, message in enumerate(messages[start : start + 10])
                ],
            )
