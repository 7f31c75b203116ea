"""The `dispatch_to_sap` queue handler: one SQS batch through `dispatch`, then SQS and the State Keeper.

After `dispatch` has decided, per record, what happened:
- every message that must come back gets its visibility timeout set to its backoff delay
  (ChangeMessageVisibilityBatch), so it returns no earlier than SAP's Retry-After and
  waiting costs no Lambda time; it is then returned as a batch item failure (after the
  queue's maxReceiveCount SQS moves it to the dead-letter queue, see `dead_letters`);
- the State Keeper hears DELIVERED or REJECTED_BY_SAP (with a reason code such as
  `SAP_400_HPA_MKT_IA_027`, or `INVALID_FOR_SAP` for a payload that broke the metadata),
  or ERASED (`SUBJECT_ERASED`) for a record withdrawn because its subject was erased,
  with the attempt (the message's receive count) and the message id as the SAP batch id.
  Records that wait for a retry stay QUEUED_FOR_SAP. SAP's full (redacted) message is kept
  in the dispatch ledger and the log, never in the State Keeper.

If reporting fails, the handler raises: the whole batch comes back, the ledger answers
"final" without asking SAP, and the report is sent again (at least once, never twice in SAP).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib import observability
from chalicelib.sap import dispatcher
from chalicelib.sap.client import SapGateway
from chalicelib.sap.dispatcher import DispatchOptions, DispatchResult, QueueMessage, RecordOutcome, dispatch
from chalicelib.sap.ledger import DispatchLedger
from chalicelib.sap.throttle import Throttle
from chalicelib.state_keeper.lifecycle import State, StateChange
from chalicelib.subjects.tombstones import SUBJECT_ERASED, Tombstones

log = logging.getLogger(__name__)

COMPONENT = "sap-dispatch"
_STATES = {
    dispatcher.DELIVERED: State.DELIVERED,
    dispatcher.REJECTED_BY_SAP: State.REJECTED_BY_SAP,
    dispatcher.INVALID_FOR_SAP: State.REJECTED_BY_SAP,
    dispatcher.WITHDRAWN: State.ERASED,
}
_SAP_REASON = re.compile(r"^(?P<status>\d{3}) (?P<code>[^:\s]*):")


def reason_code(outcome: RecordOutcome) -> str | None:
    """A State Keeper reason code for an outcome: SAP's status and error code, never its text."""
    if outcome.status == dispatcher.INVALID_FOR_SAP:
        return "INVALID_FOR_SAP"
    if outcome.status == dispatcher.WITHDRAWN:
        return SUBJECT_ERASED
    if outcome.status != dispatcher.REJECTED_BY_SAP:
        return None
    match = _SAP_REASON.match(outcome.reason or "")
    if not match:
        return "SAP_REJECTED"
    code = re.sub(r"[^A-Z0-9]+", "_", f"SAP_{match['status']}_{match['code']}".upper()).strip("_")
    return code[:64]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SapDispatchHandler:
    def __init__(
        self,
        client: Callable[[], SapGateway],
        throttle: Throttle,
        ledger: DispatchLedger,
        sqs: Any,
        queue_url: str,
        reporter: Callable[[], Any],
        *,
        tombstones: Tombstones,
        options: DispatchOptions | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`client` is called per batch (a cached getter): credentials are read when first needed."""
        self.client = client
        self.throttle = throttle
        self.ledger = ledger
        self.tombstones = tombstones
        self.sqs = sqs
        self.queue_url = queue_url
        self.reporter = reporter
        self.options = options or DispatchOptions()
        self.clock = clock

    def handle(self, sqs_records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
        messages = [QueueMessage.from_sqs(record) for record in sqs_records]
        result = dispatch(
            messages, self.client(), self.throttle, self.ledger, tombstones=self.tombstones, options=self.options
        )
        self._delay_retries(result)
        self._report(result, {message.message_id: message.receive_count for message in messages})
        log.info("SAP dispatch: %s", dispatcher.dumps(result))
        observability.count("SapRequests", result.sap_requests)
        observability.count("SapMessagesRetried", len(result.retries))
        return result.batch_item_failures()

    def _delay_retries(self, result: DispatchResult) -> None:
        """Each message comes back after its own backoff; a failed change leaves the queue's default."""
        for start in range(0, len(result.retries), 10):
            chunk = result.retries[start : start + 10]
            try:
                response = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {
                            "Id": str(index),
                            "ReceiptHandle": retry.receipt_handle,
                            "VisibilityTimeout": retry.delay_seconds,
                        }
                        for index, retry in enumerate(chunk)
                    ],
                )
            except Exception as error:  # noqa: BLE001 - the retry still happens, only later
                log.warning("could not set the retry delay of %d messages: %s", len(chunk), type(error).__name__)
                continue
            if response.get("Failed"):
                log.warning("could not set the retry delay of %d messages", len(response["Failed"]))

    def _report(self, result: DispatchResult, receive_counts: dict[str, int]) -> None:
        at = self.clock()
        with self.reporter() as reporter:
            for outcome in result.outcomes:
                state = _STATES.get(outcome.status)
                if state is None:
                    continue  # still QUEUED_FOR_SAP (it comes back), or sent before its erasure
                reporter.report(
                    StateChange(
                        document_id=outcome.document,
                        state=state,
                        at=at,
                        component=COMPONENT,
                        attempt=min(1000, max(1, receive_counts.get(outcome.message_id, 1))),
                        reason_code=reason_code(outcome),
                        sap_batch_id=_batch_id(outcome.message_id),
                    )
                )


def _batch_id(message_id: str) -> str | None:
    return message_id if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}", message_id) else None
