"""Records of erased subjects still on the dispatch queue are withdrawn, never sent, and stay so."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.sap import ledger as ledger_states
from chalicelib.sap.dispatcher import (
    DELIVERED,
    RETRYING,
    SENT_BEFORE_ERASURE,
    WITHDRAWN,
    DispatchOptions,
    QueueMessage,
    dispatch,
)
from chalicelib.sap.handler import SapDispatchHandler
from chalicelib.sap.ledger import InMemoryLedger, Settlement
from chalicelib.sap.throttle import InMemoryThrottle, ThrottleSettings
from chalicelib.state_keeper.lifecycle import State
from chalicelib.state_keeper.reporter import InMemoryStateReporter
from chalicelib.subjects.tombstones import SUBJECT_ERASED, InMemoryTombstones
from tests.unit.sap.fake_sap import FakeSap
from tests.unit.sap.sample_records import NOW, a_message_body, a_record

FAST = ThrottleSettings(requests_per_second=1e6, records_per_second=1e9)


def message(message_id: str, *records, receive_count: int = 1) -> QueueMessage:
    return QueueMessage(message_id, f"receipt-{message_id}", a_message_body(*records), receive_count, "g1")


def sent_refs(sap: FakeSap) -> set[str]:
    return {ref for _, refs in sap.calls for ref in refs}


def test_it_withdraws_an_erased_subjects_record_and_sends_the_others() -> None:
    # GIVEN subject-1 erased after its record's interaction (NOW), and subject-2 not erased
    sap, ledger = FakeSap(), InMemoryLedger()
    tombstones = InMemoryTombstones({"subject-1": NOW + timedelta(days=1)})
    # WHEN a message with both records is dispatched
    result = dispatch(
        [message("m1", a_record(1), a_record(2))], sap, InMemoryThrottle(FAST), ledger, tombstones=tombstones
    )
    # THEN SAP never sees record 1 (contact, email, permission, interaction); record 2 is delivered
    assert sent_refs(sap) == {"record-2"} and "subject-1" not in sap.contacts
    assert {o.record_id: o.status for o in result.outcomes} == {"record-1": WITHDRAWN, "record-2": DELIVERED}
    assert result.retries == [] and result.batch_item_failures() == {"batchItemFailures": []}
    # ... the ledger holds record 1 as final, and the tombstones were asked once for both subjects
    assert ledger.state("record-1") == ledger_states.WITHDRAWN
    assert ledger.items["record-1"]["reason"] == SUBJECT_ERASED
    assert tombstones.lookups == [["subject-1", "subject-2"]]


def test_a_withdrawn_record_is_never_sent_on_a_redelivery_even_without_its_tombstone() -> None:
    sap, ledger = FakeSap(), InMemoryLedger()
    dispatch(
        [message("m1", a_record(1))],
        sap,
        InMemoryThrottle(FAST),
        ledger,
        tombstones=InMemoryTombstones({"subject-1": NOW}),
    )
    # WHEN the message comes back (a replay from the DLQ) after the tombstone expired
    again = dispatch(
        [message("m1", a_record(1), receive_count=2)],
        sap,
        InMemoryThrottle(FAST),
        ledger,
        tombstones=InMemoryTombstones(),
    )
    # THEN the ledger's final state keeps it out of SAP
    assert sap.calls == [] and [o.status for o in again.outcomes] == [WITHDRAWN]
    assert ledger.claim_many(["record-1"], "someone", 60)["record-1"].status == "final"


def test_a_record_of_an_interaction_after_the_erasure_is_sent() -> None:
    # a person erased yesterday who registers again today is a new, lawful record
    sap = FakeSap()
    result = dispatch(
        [message("m1", a_record(1))],
        sap,
        InMemoryThrottle(FAST),
        InMemoryLedger(),
        tombstones=InMemoryTombstones({"subject-1": NOW - timedelta(days=1)}),
    )
    assert [o.status for o in result.outcomes] == [DELIVERED] and sent_refs(sap) == {"record-1"}


def test_a_record_sap_held_before_the_erasure_keeps_its_state_and_is_not_reported_again() -> None:
    sap, ledger = FakeSap(), InMemoryLedger()
    dispatch([message("m1", a_record(1))], sap, InMemoryThrottle(FAST), ledger)
    sap.calls.clear()
    # WHEN its message is delivered again after the subject's erasure
    result = dispatch(
        [message("m1", a_record(1), receive_count=2)],
        sap,
        InMemoryThrottle(FAST),
        ledger,
        tombstones=InMemoryTombstones({"subject-1": NOW}),
    )
    # THEN nothing is sent, the ledger still says DELIVERED, and the handler reports nothing
    assert sap.calls == [] and [o.status for o in result.outcomes] == [SENT_BEFORE_ERASURE]
    assert ledger.state("record-1") == ledger_states.DELIVERED and result.retries == []


def test_a_record_another_dispatcher_is_sending_comes_back_later() -> None:
    sap, ledger = FakeSap(), InMemoryLedger()
    ledger.claim_many(["record-1"], "other-dispatcher", 60)
    result = dispatch(
        [message("m1", a_record(1))],
        sap,
        InMemoryThrottle(FAST),
        ledger,
        tombstones=InMemoryTombstones({"subject-1": NOW}),
    )
    assert [o.status for o in result.outcomes] == [RETRYING] and [r.message_id for r in result.retries] == ["m1"]
    assert ledger.state("record-1") == ledger_states.SENDING and sap.calls == []


def test_many_subjects_are_looked_up_once_per_run() -> None:
    # GIVEN 30 records in 3 messages, every third subject erased, 4 records per request
    sap, ledger = FakeSap(), InMemoryLedger()
    tombstones = InMemoryTombstones({f"subject-{n}": NOW for n in range(0, 30, 3)})
    messages = [message(f"m{m}", *(a_record(n) for n in range(m * 10, m * 10 + 10))) for m in range(3)]
    result = dispatch(
        messages,
        sap,
        InMemoryThrottle(FAST),
        ledger,
        tombstones=tombstones,
        options=DispatchOptions(records_per_request=4),
    )
    statuses = {o.record_id: o.status for o in result.outcomes}
    assert len(tombstones.lookups) == 1 and len(tombstones.lookups[0]) == 30
    assert {r for r, s in statuses.items() if s == WITHDRAWN} == {f"record-{n}" for n in range(0, 30, 3)}
    assert sum(1 for s in statuses.values() if s == DELIVERED) == 20
    assert not {f"record-{n}" for n in range(0, 30, 3)} & sent_refs(sap)


def test_the_handler_reports_a_withdrawn_record_erased_with_its_reason() -> None:
    sap, reporter, ledger = FakeSap(), InMemoryStateReporter(), InMemoryLedger()

    class NoSqs:
        def change_message_visibility_batch(self, **_: object) -> dict[str, object]:
            return {}

    handler = SapDispatchHandler(
        lambda: sap,
        InMemoryThrottle(FAST),
        ledger,
        NoSqs(),
        "queue-url",
        lambda: reporter,
        tombstones=InMemoryTombstones({"subject-1": NOW}),
    )
    record = {
        "messageId": "m1",
        "receiptHandle": "r1",
        "body": a_message_body(a_record(1), a_record(2)),
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "g1"},
    }
    assert handler.handle([record]) == {"batchItemFailures": []}
    changes = {c.document_id: c for c in reporter.changes}
    assert changes["record-1"].state is State.ERASED and changes["record-1"].reason_code == SUBJECT_ERASED
    assert changes["record-1"].subject_id is None
    assert changes["record-2"].state is State.DELIVERED


def test_the_ledger_never_parks_or_claims_a_withdrawn_record() -> None:
    ledger = InMemoryLedger()
    ledger.claim_many(["r1"], "dead-dispatcher", -1)  # a lease already expired: the holder died
    assert ledger.withdraw_many(["r1"], SUBJECT_ERASED)["r1"].status == "withdrawn"
    assert ledger.park_many(["r1"]) == {} and ledger.unpark_many(["r1"]) == set()
    assert ledger.settle_many([Settlement("r1", ledger_states.DELIVERED)], "dead-dispatcher") == {"r1": False}
    assert ledger.withdraw_many(["r1"], SUBJECT_ERASED)["r1"].status == "withdrawn"  # idempotent
