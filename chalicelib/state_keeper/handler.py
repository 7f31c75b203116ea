"""The State Keeper's queue handler: many messages in, one merged write per document.

Returns the indexes of the messages that failed, for SQS partial batch responses:
those messages come back (and end in the dead-letter queue after the queue's
maxReceiveCount), while the others are deleted. A body that is not a state-change
message fails alone; it is never logged, only its index and the error type.
"""

from __future__ import annotations

import logging

from chalicelib.state_keeper.exceptions import InvalidStateMessage
from chalicelib.state_keeper.reporter import decode_changes, message_origin
from chalicelib.state_keeper.store import Batch, StateStore

log = logging.getLogger(__name__)


def handle_state_change_messages(bodies: list[str], store: StateStore) -> list[int]:
    failed: set[int] = set()
    batches: list[Batch] = []
    positions: dict[str, list[int]] = {}
    for index, body in enumerate(bodies):
        try:
            changes = decode_changes(body)
        except InvalidStateMessage as error:
            log.warning("state-change message %d rejected: %s", index, error)
            failed.add(index)
            continue
        origin = message_origin(body)
        positions.setdefault(origin, []).append(index)
        batches.append((origin, changes))
    if batches:
        try:
            failed_origins = store.apply_batch(batches)
        except Exception:  # the whole batch comes back; nothing half-applied is lost
            log.exception("state changes could not be stored")
            failed_origins = set(positions)
        for origin in failed_origins:
            failed.update(positions.get(origin, []))
    return sorted(failed)


def batch_item_failures(message_ids: list[str], failed: list[int]) -> dict[str, list[dict[str, str]]]:
    """The Lambda response for SQS partial batch failures (`ReportBatchItemFailures`)."""
    return {"batchItemFailures": [{"itemIdentifier": message_ids[i]} for i in failed]}


class StateKeeper:
    """The `keep_state` SQS handler's work: store every message's changes, report failures."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def handle(self, sqs_records: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
        failed = handle_state_change_messages([record["body"] for record in sqs_records], self.store)
        return batch_item_failures([record["messageId"] for record in sqs_records], failed)
