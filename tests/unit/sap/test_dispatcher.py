"""The dispatcher over in-memory twins: order, outcomes per record, retries, exactly once."""

from __future__ import annotations

import contextlib

from chalicelib.sap import ledger as ledger_states
from chalicelib.sap.dispatcher import (
    DELIVERED,
    HELD_ELSEWHERE,
    INVALID_FOR_SAP,
    REJECTED_BY_SAP,
    RETRYING,
    DispatchOptions,
    QueueMessage,
    dispatch,
)
from chalicelib.sap.exceptions import SapUnavailable
from chalicelib.sap.ledger import InMemoryLedger
from chalicelib.sap.throttle import InMemoryThrottle, ThrottleSettings
from tests.unit.sap.fake_sap import FakeSap
from tests.unit.sap.sample_records import a_message_body, a_record

FAST = ThrottleSettings(requests_per_second=1e6, records_per_second=1e9)


def message(message_id: str, *records, group: str = "g1", receive_count: int = 1) -> QueueMessage:
    return QueueMessage(message_id, f"receipt-{message_id}", a_message_body(*records), receive_count, group)


def statuses(result) -> dict[str, str]:
    return {o.record_id: o.status for o in result.outcomes}


def test_it_sends_contacts_before_interactions_and_delivers_every_record() -> None:
    sap, ledger = FakeSap(), InMemoryLedger()

    result = dispatch([message("m1", a_record(1), a_record(2))], sap, InMemoryThrottle(FAST), ledger)

    assert statuses(result) == {"record-1": DELIVERED, "record-2": DELIVERED}
    assert [service for service, _ in sap.calls] == ["API_MKT_CONTACT_SRV", "API_MKT_INTERACTION_SRV"]
    assert result.retries == [] and result.batch_item_failures() == {"batchItemFailures": []}
    assert ledger.state("record-1") == ledger_states.DELIVERED


def test_a_rejected_part_is_final_with_a_redacted_reason_and_the_others_are_delivered() -> None:
    # GIVEN SAP rejects record 2's changeset quoting the email
    sap = FakeSap(reject={"record-2": "E-mail address person2@example.com of Ann is not valid"})

    result = dispatch(
        [message("m1", a_record(1), a_record(2), a_record(3))], sap, InMemoryThrottle(FAST), InMemoryLedger()
    )

    assert statuses(result) == {"record-1": DELIVERED, "record-2": REJECTED_BY_SAP, "record-3": DELIVERED}
    (reason,) = [o.reason for o in result.outcomes if o.record_id == "record-2"]
    assert reason == "400 X/1: E-mail address *** of *** is not valid"
    assert result.retries == []


def test_a_record_that_breaks_the_metadata_is_never_sent() -> None:
    sap = FakeSap()

    result = dispatch([message("m1", a_record(1, first_name="N" * 41))], sap, InMemoryThrottle(FAST), InMemoryLedger())

    assert statuses(result) == {"record-1": INVALID_FOR_SAP}
    assert sap.calls == []


def test_a_429_brings_the_message_back_no_earlier_than_retry_after_and_slows_everyone() -> None:
    # GIVEN SAP answers the contact batch with 429, Retry-After 30
    sap = FakeSap(script=[SapUnavailable("429", status=429, retry_after=30)])
    throttle = InMemoryThrottle(FAST)

    result = dispatch([message("m1", a_record(1))], sap, throttle, InMemoryLedger())

    assert statuses(result) == {"record-1": RETRYING}
    (retry,) = result.retries
    assert retry.message_id == "m1" and retry.delay_seconds >= 30
    assert throttle.overloads == 1
    assert result.batch_item_failures() == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_a_429_with_a_short_retry_after_is_waited_out_in_the_run_and_the_message_stays_done() -> None:
    # GIVEN SAP answers the contact batch with 429, Retry-After 0.1 s
    sap = FakeSap(script=[SapUnavailable("429", status=429, retry_after=0.1)])
    throttle = InMemoryThrottle(FAST)

    result = dispatch([message("m1", a_record(1), a_record(2))], sap, throttle, InMemoryLedger())

    # THEN the same request goes again once the throttle lets it, and nothing comes back
    assert statuses(result) == {"record-1": DELIVERED, "record-2": DELIVERED}
    assert result.retries == [] and throttle.overloads == 1
    assert sap.calls[:2] == [("API_MKT_CONTACT_SRV", ["record-1", "record-2"])] * 2
    assert sap.duplicates == 0


def test_a_part_answered_503_is_sent_again_in_the_run_before_the_next_request() -> None:
    sap = FakeSap(retry_part={"record-2": 503})
    options = DispatchOptions(records_per_request=2)

    result = dispatch(
        [message("m1", a_record(1), a_record(2), a_record(3))],
        sap,
        InMemoryThrottle(FAST),
        InMemoryLedger(),
        options=options,
    )

    assert statuses(result) == {"record-1": DELIVERED, "record-2": DELIVERED, "record-3": DELIVERED}
    assert [call for call in sap.calls if call[0] == "API_MKT_INTERACTION_SRV"] == [
        ("API_MKT_INTERACTION_SRV", ["record-1", "record-2"]),
        ("API_MKT_INTERACTION_SRV", ["record-2"]),
        ("API_MKT_INTERACTION_SRV", ["record-3"]),
    ]
    assert result.retries == [] and sap.duplicates == 0


def test_an_overload_that_outlasts_the_retries_in_the_run_hands_the_message_back() -> None:
    sap = FakeSap(script=[SapUnavailable("429", status=429, retry_after=0.01)] * 3)

    result = dispatch([message("m1", a_record(1))], sap, InMemoryThrottle(FAST), InMemoryLedger())

    assert statuses(result) == {"record-1": RETRYING}
    assert [r.message_id for r in result.retries] == ["m1"]
    assert sap.calls == [("API_MKT_CONTACT_SRV", ["record-1"])] * 3


def test_only_messages_with_failed_records_come_back_and_delivered_records_are_not_resent() -> None:
    # GIVEN record 2's interaction part gets a 500 inside the batch (no overload: not sent again in the run)
    sap, ledger = FakeSap(retry_part={"record-2": 500}), InMemoryLedger()
    first = dispatch(
        [message("m1", a_record(1), group="a"), message("m2", a_record(2), group="b")],
        sap,
        InMemoryThrottle(FAST),
        ledger,
    )
    assert [r.message_id for r in first.retries] == ["m2"]

    # WHEN m2 comes back together with a redelivered m1
    sap.calls.clear()
    second = dispatch(
        [message("m1", a_record(1), group="a"), message("m2", a_record(2), group="b", receive_count=2)],
        sap,
        InMemoryThrottle(FAST),
        ledger,
    )

    # THEN only record 2's interactions are sent (its contact part was already accepted)
    assert statuses(second) == {"record-1": DELIVERED, "record-2": DELIVERED}
    assert sap.calls == [("API_MKT_INTERACTION_SRV", ["record-2"])]
    assert sap.duplicates == 0


def test_later_messages_of_a_fifo_group_come_back_with_a_failed_one() -> None:
    sap = FakeSap(retry_part={"record-1": 500})

    result = dispatch(
        [message("m1", a_record(1)), message("m2", a_record(2)), message("m3", a_record(3), group="x")],
        sap,
        InMemoryThrottle(FAST),
        InMemoryLedger(),
    )

    assert [r.message_id for r in result.retries] == ["m1", "m2"]


def test_an_answer_lost_after_sap_applied_it_is_not_sent_twice() -> None:
    # GIVEN SAP applies the interaction batch but the answer is lost (reset)
    sap, ledger = FakeSap(), InMemoryLedger()
    sap.script = [None, SapUnavailable("reset", in_doubt=True)]
    sap_apply_then_fail = FakeSap.send_batch

    def send_batch(service, changesets):  # apply first, then lose the answer
        if service == "API_MKT_INTERACTION_SRV" and sap.script and sap.script[0] is not None:
            sap.script.pop(0)
            sap_apply_then_fail(sap, service, changesets)
            raise SapUnavailable("reset", in_doubt=True)
        return sap_apply_then_fail(sap, service, changesets)

    sap.send_batch = send_batch  # type: ignore[method-assign]
    first = dispatch([message("m1", a_record(1))], sap, InMemoryThrottle(FAST), ledger)
    assert statuses(first) == {"record-1": RETRYING}

    # WHEN the message comes back
    second = dispatch([message("m1", a_record(1), receive_count=2)], sap, InMemoryThrottle(FAST), ledger)

    # THEN the dispatcher asks SAP, finds the interaction, and does not POST it again
    assert statuses(second) == {"record-1": DELIVERED}
    assert sap.lookups == 1 and sap.duplicates == 0


def test_a_dispatcher_that_died_before_settling_leaves_records_in_doubt_for_the_next() -> None:
    # GIVEN a run that got SAP's answer but died before writing the ledger
    sap, clock = FakeSap(), [1_000.0]
    ledger = InMemoryLedger(clock=lambda: clock[0])

    class Crash(Exception):
        pass

    def die(*args, **kwargs):
        raise Crash()

    real_settle, ledger.settle_many = ledger.settle_many, die  # type: ignore[method-assign]
    with contextlib.suppress(Crash):
        dispatch(
            [message("m1", a_record(1))], sap, InMemoryThrottle(FAST), ledger, options=DispatchOptions(lease_seconds=60)
        )
    ledger.settle_many = real_settle  # type: ignore[method-assign]

    # WHEN the message comes back before the lease ran out, it waits; after, it is reconciled
    early = dispatch([message("m1", a_record(1), receive_count=2)], sap, InMemoryThrottle(FAST), ledger)
    assert statuses(early) == {"record-1": RETRYING} and early.retries[0].delay_seconds >= 1
    clock[0] += 61
    late = dispatch([message("m1", a_record(1), receive_count=3)], sap, InMemoryThrottle(FAST), ledger)

    # THEN it is delivered exactly once
    assert statuses(late) == {"record-1": DELIVERED}
    assert sap.duplicates == 0 and sum(sap.interactions.values()) == 1


def test_a_copy_of_a_record_another_message_holds_is_done_at_once_and_the_holder_delivers_it() -> None:
    # GIVEN a dispatcher that claimed the record for message m1 and is still sending it
    ledger, sap = InMemoryLedger(), FakeSap()
    ledger.claim_many(["record-1"], "first-dispatcher", 180, {"record-1": "m1"})

    # WHEN the same record arrives in another message (a lead in a Graph page and a CSV download)
    copy = dispatch([message("m2", a_record(1), a_record(2))], sap, InMemoryThrottle(FAST), ledger)

    # THEN the copy neither waits out the lease nor comes back; the other record is delivered
    assert statuses(copy) == {"record-1": HELD_ELSEWHERE, "record-2": DELIVERED}
    assert copy.retries == []
    assert sum(sap.interactions.values()) == 1


def test_a_record_carried_by_two_messages_of_one_run_is_sent_once_without_a_lease_wait() -> None:
    # GIVEN one batch with the same record in two messages (a Graph page and a CSV download)
    sap, ledger = FakeSap(), InMemoryLedger()

    result = dispatch(
        [message("m1", a_record(1)), message("m2", a_record(1), a_record(2))], sap, InMemoryThrottle(FAST), ledger
    )

    # THEN the first message delivers it, the copy defers to it, nothing comes back
    assert sorted((o.message_id, o.record_id, o.status) for o in result.outcomes) == [
        ("m1", "record-1", DELIVERED),
        ("m2", "record-1", HELD_ELSEWHERE),
        ("m2", "record-2", DELIVERED),
    ]
    assert result.retries == [] and sap.duplicates == 0 and sum(sap.interactions.values()) == 2


def test_a_record_already_delivered_is_reported_delivered_without_asking_sap() -> None:
    sap, ledger = FakeSap(), InMemoryLedger()
    dispatch([message("m1", a_record(1))], sap, InMemoryThrottle(FAST), ledger)
    sap.calls.clear()

    # WHEN the normalizer sends the same record again in another message
    result = dispatch([message("m9", a_record(1))], sap, InMemoryThrottle(FAST), ledger)

    assert statuses(result) == {"record-1": DELIVERED}
    assert sap.calls == []


def test_a_message_that_is_no_dispatch_message_is_left_for_the_dlq() -> None:
    result = dispatch(
        [QueueMessage("bad", "r", "{not json", 1, "g")], FakeSap(), InMemoryThrottle(FAST), InMemoryLedger()
    )

    assert result.malformed == ["bad"]
    assert result.batch_item_failures() == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def test_when_the_throttle_makes_it_wait_too_long_records_go_back_to_the_queue() -> None:
    # GIVEN a throttle allowing 1 request every 100 s (its bucket holds one) and a budget of 1 s
    slow = InMemoryThrottle(ThrottleSettings(requests_per_second=0.01, records_per_second=1e9))
    sap = FakeSap()

    result = dispatch(
        [message("m1", a_record(1))],
        sap,
        slow,
        InMemoryLedger(),
        options=DispatchOptions(wait_budget_seconds=1),
        sleep=lambda s: None,
    )

    assert statuses(result) == {"record-1": RETRYING}
    assert result.retries[0].delay_seconds >= 50
    assert sap.calls == [("API_MKT_CONTACT_SRV", ["record-1"])]


def test_an_unreadable_answer_to_the_interaction_batch_is_treated_as_in_doubt() -> None:
    # GIVEN SAP's answer to the interaction batch cannot be parsed (it may have applied it)
    from chalicelib.sap.exceptions import SapProtocolError

    sap, ledger = FakeSap(), InMemoryLedger()
    sap.script = [None, SapProtocolError("garbled")]

    first = dispatch([message("m1", a_record(1))], sap, InMemoryThrottle(FAST), ledger)

    assert statuses(first) == {"record-1": RETRYING}
    assert ledger.items["record-1"]["lease_until"] == 0.0 and ledger.state("record-1") == "SENDING"


def test_a_run_out_of_time_releases_its_claims_and_keeps_what_sap_accepted() -> None:
    # GIVEN a throttle with tokens for the contact requests only (one record per request)
    slow = InMemoryThrottle(ThrottleSettings(requests_per_second=0.01, records_per_second=1e9, burst_seconds=200))
    ledger, sap = InMemoryLedger(), FakeSap()
    options = DispatchOptions(records_per_request=1, wait_budget_seconds=1)

    result = dispatch(
        [message("m1", a_record(1), a_record(2))], sap, slow, ledger, options=options, sleep=lambda s: None
    )

    # THEN both contacts went, no interaction did: both records come back, claimable at
    # once (PENDING), and remember that SAP has their contact
    assert statuses(result) == {"record-1": RETRYING, "record-2": RETRYING}
    assert [service for service, _ in sap.calls] == ["API_MKT_CONTACT_SRV"] * 2
    assert ledger.state("record-1") == ledger.state("record-2") == ledger_states.PENDING
    assert ledger.items["record-1"]["contact_done"] and ledger.items["record-2"]["contact_done"]
    assert [m.message_id for m in result.retries] == ["m1"]
