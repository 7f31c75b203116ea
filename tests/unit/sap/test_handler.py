"""The dispatch queue handler over in-memory twins: retry delays in SQS, State Keeper reports."""

from __future__ import annotations

from typing import Any

from chalicelib.sap.dispatcher import RecordOutcome
from chalicelib.sap.exceptions import SapUnavailable
from chalicelib.sap.handler import SapDispatchHandler, reason_code
from chalicelib.sap.ledger import InMemoryLedger, Settlement
from chalicelib.sap.throttle import InMemoryThrottle, ThrottleSettings
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.reporter import InMemoryStateReporter
from chalicelib.subjects.tombstones import InMemoryTombstones
from tests.unit.sap.fake_sap import FakeSap
from tests.unit.sap.sample_records import a_message_body, a_record

FAST = ThrottleSettings(requests_per_second=1e6, records_per_second=1e9)


class VisibilitySqs:
    def __init__(self) -> None:
        self.delays: dict[str, int] = {}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.delays.update({e["ReceiptHandle"]: e["VisibilityTimeout"] for e in Entries})
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def sqs_record(message_id: str, *records: Any, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": a_message_body(*records),
        "attributes": {"ApproximateReceiveCount": str(receive_count), "MessageGroupId": "g1"},
    }


def handler(sap: FakeSap, sqs: VisibilitySqs, reporter: InMemoryStateReporter) -> SapDispatchHandler:
    return SapDispatchHandler(
        lambda: sap,
        InMemoryThrottle(FAST),
        InMemoryLedger(),
        sqs,
        "queue-url",
        lambda: reporter,
        tombstones=InMemoryTombstones(),
    )


def test_delivered_and_rejected_records_are_reported_with_attempt_and_code() -> None:
    sap, sqs, reporter = FakeSap(reject={"record-2": "Ann's email is odd"}), VisibilitySqs(), InMemoryStateReporter()

    answer = handler(sap, sqs, reporter).handle([sqs_record("m1", a_record(1), a_record(2), receive_count=3)])

    assert answer == {"batchItemFailures": []} and sqs.delays == {}
    changes = {c.document_id: c for c in reporter.changes}
    assert changes["record-1"].state is State.DELIVERED and changes["record-1"].attempt == 3
    assert changes["record-2"].state is State.REJECTED_BY_SAP and changes["record-2"].reason_code == "SAP_400_X_1"
    assert all(c.sap_batch_id == "m1" and c.subject_id is None for c in reporter.changes)


def test_a_retryable_failure_sets_the_message_delay_and_reports_nothing_yet() -> None:
    sap = FakeSap(script=[SapUnavailable("429", status=429, retry_after=30)])
    sqs, reporter = VisibilitySqs(), InMemoryStateReporter()

    answer = handler(sap, sqs, reporter).handle([sqs_record("m1", a_record(1))])

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert sqs.delays["receipt-m1"] >= 30
    assert reporter.changes == []


def test_reason_codes_carry_sap_status_and_code_never_the_text() -> None:
    rejected = RecordOutcome("r", "s", "m", "REJECTED_BY_SAP", "400 /IWBEP/CM_MGW_RT/020: Ann *** is bad")
    assert reason_code(rejected) == "SAP_400_IWBEP_CM_MGW_RT_020"
    assert reason_code(RecordOutcome("r", "s", "m", "REJECTED_BY_SAP", "odd")) == "SAP_REJECTED"
    assert reason_code(RecordOutcome("r", "s", "m", "INVALID_FOR_SAP", "FirstName too long")) == "INVALID_FOR_SAP"


def test_parking_keeps_the_first_time_skips_final_records_and_replay_unparks() -> None:
    clock = [100.0]
    ledger = InMemoryLedger(clock=lambda: clock[0])
    ledger.claim_many(["done"], "owner", 60)
    ledger.settle_many([Settlement("done", "DELIVERED")], "owner")

    assert ledger.park_many(["done", "new"]) == {"new": 100.0}
    clock[0] = 200.0
    assert ledger.park_many(["new"]) == {"new": 100.0}
    assert ledger.claim_many(["new"], "other", 60)["new"].status == "claimed"  # a parked record stays claimable
    assert ledger.unpark_many(["done", "new"]) == {"new"}
