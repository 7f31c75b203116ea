"""Sending one document SAP rejected to SAP again (`POST /documents/{id}/retry`).

Its dispatch message is gone (a rejection is final), so the caller hands in the record as
normalize made it (read again from its raw file). The ledger reopens the record
(REJECTED_BY_SAP → PENDING) before the send, so the dispatcher may claim it once more; the
message gets a deduplication id of its own (a content-based one could match the original
within SQS's five-minute window and be dropped). A record of an erased subject is still
withdrawn by the dispatcher, as any other.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.normalize.schema import NormalizedRecord
from chalicelib.sap.ledger import DispatchLedger
from chalicelib.sap.outbox import pack, to_dispatch_record
from chalicelib.state_keeper.lifecycle import State, StateChange

RETRY_COMPONENT = "sap-retry"


def resend_rejected(
    record: NormalizedRecord,
    ledger: DispatchLedger,
    sqs: Any,
    queue_url: str,
    reporter: Callable[[], Any],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> bool:
    """Queue a rejected record for SAP again; False when the ledger holds it in another state.

    Raises `outbox.Unsendable` when the record is nothing SAP can take.
    """
    dispatch_record = to_dispatch_record(record)
    [message] = pack([dispatch_record])
    if not ledger.reopen(dispatch_record.record_id):
        return False
    queued_at = clock()  # before the send: a fast dispatcher's answer must come later
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=message.body,
        MessageGroupId=message.group_id,
        MessageDeduplicationId=hashlib.sha256(f"retry:{uuid.uuid4().hex}:{record.document_id}".encode()).hexdigest(),
    )
    with reporter() as report:
        report.report(
            StateChange(
                document_id=record.document_id, state=State.QUEUED_FOR_SAP, at=queued_at, component=RETRY_COMPONENT
            )
        )
    return True
