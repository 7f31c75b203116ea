"""The dispatcher against the stand-in over HTTP, with the ledger and throttle on the emulator."""

from __future__ import annotations

import time

import boto3
import pytest

from chalicelib.resources import for_stage
from chalicelib.sap.client import SapClient
from chalicelib.sap.dispatcher import DELIVERED, FINAL_OUTCOMES, DispatchOptions, DispatchResult, QueueMessage, dispatch
from chalicelib.sap.ledger import DispatchLedger, DynamoDbLedger, InMemoryLedger
from chalicelib.sap.throttle import DynamoDbThrottle, InMemoryThrottle, Throttle, ThrottleSettings
from sapstandin import StandIn
from tests.unit.sap.sample_records import a_message_body, a_record

FAST = ThrottleSettings(requests_per_second=200, records_per_second=100_000)


def run_until_final(
    messages: list[QueueMessage],
    client: SapClient,
    throttle: Throttle,
    ledger: DispatchLedger,
    *,
    time_limit: float = 20.0,
    **kwargs,
) -> dict[str, str]:
    """Play SQS: messages that must come back do, sooner than their delay (time is short in tests)."""
    final: dict[str, str] = {}
    deadline = time.monotonic() + time_limit
    pending = list(messages)
    while pending:
        assert time.monotonic() < deadline, f"records not final in time: {len(pending)} messages left"
        result: DispatchResult = dispatch(pending, client, throttle, ledger, **kwargs)
        final.update({o.record_id: o.status for o in result.outcomes if o.status in FINAL_OUTCOMES})
        by_id = {m.message_id: m for m in pending}
        pending = [
            QueueMessage(
                r.message_id,
                r.receipt_handle,
                by_id[r.message_id].body,
                by_id[r.message_id].receive_count + 1,
                by_id[r.message_id].group_id,
            )
            for r in result.retries
        ]
        if pending:
            time.sleep(min(0.3, min(r.delay_seconds for r in result.retries)))
    return final


def messages_of(count: int, per_message: int = 5) -> list[QueueMessage]:
    records = [a_record(number) for number in range(count)]
    return [
        QueueMessage(
            f"m{start}",
            f"receipt-{start}",
            a_message_body(*records[start : start + per_message]),
            1,
            f"group-{start % 3}",
        )
        for start in range(0, count, per_message)
    ]


def test_sap_down_for_a_while_then_back_delivers_everything_once(standin: StandIn, sap_client: SapClient) -> None:
    # GIVEN SAP is down (503, Retry-After 1 s) for the first 1.5 s
    standin.go_down(1.5, retry_after=1)

    # WHEN 40 records are dispatched until nothing is left on the queue
    throttle = InMemoryThrottle(FAST)
    final = run_until_final(messages_of(40), sap_client, throttle, InMemoryLedger())

    # THEN every record is delivered, SAP holds each once, and the throttle backed off
    assert set(final.values()) == {DELIVERED} and len(final) == 40
    counts = standin.records()["counts"]
    assert counts["contacts"] == 40 and counts["interactions"] == 40 and counts["duplicates"] == 0
    assert standin.stats()["status_503"] >= 1 and throttle.overloads >= 1


def test_a_reset_after_sap_applied_the_interactions_creates_no_duplicate(
    standin: StandIn, sap_client: SapClient
) -> None:
    # GIVEN the interaction batch is applied and then the connection is reset
    standin.add_fault(kind="reset", count=1, when="after", path_contains="API_MKT_INTERACTION_SRV/$batch")

    final = run_until_final(messages_of(10), sap_client, InMemoryThrottle(FAST), InMemoryLedger())

    assert set(final.values()) == {DELIVERED} and len(final) == 10
    assert standin.stats()["resets"] == 1
    assert standin.records()["counts"]["interactions"] == 10
    assert standin.records()["duplicates"] == []


def test_429_from_capacity_slows_the_dispatcher_and_still_delivers_everything(
    standin: StandIn, sap_client: SapClient
) -> None:
    # GIVEN SAP takes 10 requests/s, and our throttle allows 40: SAP will push back
    standin.set_capacity(10, retry_after=1, retry_after_format="http-date")
    throttle = InMemoryThrottle(ThrottleSettings(requests_per_second=40, records_per_second=100_000))

    final = run_until_final(
        messages_of(16, per_message=1),
        sap_client,
        throttle,
        InMemoryLedger(),
        options=DispatchOptions(records_per_request=2),
    )

    assert len(final) == 16 and set(final.values()) == {DELIVERED}
    assert standin.stats().get("status_429", 0) >= 1 and throttle.overloads >= 1
    assert throttle.effective_rate()[0] < 40
    assert standin.records()["counts"]["duplicates"] == 0


@pytest.fixture
def emulator_ledger(stack: boto3.Session) -> DynamoDbLedger:
    return DynamoDbLedger(for_stage("local").table("sap-ledger").name, stack.client("dynamodb"))


def test_a_handler_crash_between_sap_answer_and_ledger_creates_no_duplicate(
    standin: StandIn, sap_client: SapClient, emulator_ledger: DynamoDbLedger
) -> None:
    # GIVEN a handler that dies after SAP answered, before the ledger and the queue hear of it
    body = a_message_body(a_record(1), a_record(2))
    real_settle = emulator_ledger.settle_many

    def die(*args, **kwargs):
        raise SystemExit("Lambda killed")

    emulator_ledger.settle_many = die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        dispatch(
            [QueueMessage("m1", "r1", body, 1, "g")],
            sap_client,
            InMemoryThrottle(FAST),
            emulator_ledger,
            options=DispatchOptions(lease_seconds=1),
        )
    emulator_ledger.settle_many = real_settle  # type: ignore[method-assign]
    assert standin.records()["counts"]["interactions"] == 2

    # WHEN SQS redelivers the message after the lease ran out
    time.sleep(1.1)
    result = dispatch([QueueMessage("m1", "r1", body, 2, "g")], sap_client, InMemoryThrottle(FAST), emulator_ledger)

    # THEN the dispatcher asks SAP instead of posting again: delivered, nothing twice
    assert {o.status for o in result.outcomes} == {DELIVERED}
    assert standin.records()["counts"]["interactions"] == 2
    assert standin.records()["duplicates"] == []
    assert emulator_ledger.state("record-1") == "DELIVERED"


def test_a_handler_crash_between_ledger_and_queue_delete_sends_nothing_again(
    standin: StandIn, sap_client: SapClient, emulator_ledger: DynamoDbLedger
) -> None:
    body = a_message_body(a_record(1))
    dispatch([QueueMessage("m1", "r1", body, 1, "g")], sap_client, InMemoryThrottle(FAST), emulator_ledger)
    requests_before = standin.stats()["requests"]

    # WHEN the undeleted message comes back
    result = dispatch([QueueMessage("m1", "r1", body, 2, "g")], sap_client, InMemoryThrottle(FAST), emulator_ledger)

    assert [o.status for o in result.outcomes] == [DELIVERED]
    assert standin.stats()["requests"] == requests_before


def test_the_shared_throttle_on_the_emulator_slows_down_and_honours_retry_after(stack: boto3.Session) -> None:
    table = for_stage("local").table("config").name
    clock = [1_000.0]
    first = DynamoDbThrottle(table, stack.client("dynamodb"), clock=lambda: clock[0])
    second = DynamoDbThrottle(table, stack.client("dynamodb"), clock=lambda: clock[0])
    first.configure(requests_per_second=10, records_per_second=1000)

    # GIVEN two dispatchers sharing the bucket; one sees a 429 with Retry-After 5
    clock[0] += 1
    assert first.acquire(records=10) == 0.0
    second.overloaded(5.0)

    # THEN the other waits out Retry-After, and the shared rate is cut to 0.7
    assert first.acquire(records=10) >= 4.9
    assert first.effective_rate()[0] == pytest.approx(7.0)


def test_throttle_rates_change_at_runtime_without_a_deploy(stack: boto3.Session) -> None:
    table = for_stage("local").table("config").name
    clock = [1_000.0]
    throttle = DynamoDbThrottle(table, stack.client("dynamodb"), clock=lambda: clock[0], max_item_age=60)
    throttle.configure(requests_per_second=1, records_per_second=1000)
    assert throttle.acquire(records=1) == 0.0
    assert throttle.acquire(records=1) > 0.5

    # WHEN an operator raises the rate in the config table
    DynamoDbThrottle(table, stack.client("dynamodb")).configure(requests_per_second=100)
    clock[0] += 0.05

    # THEN a dispatcher holding the old item sees it at its next write (or within max_item_age)
    assert throttle.acquire(records=1) > 0.5
    clock[0] += 0.95
    assert throttle.acquire(records=1) == 0.0
    clock[0] += 0.05
    assert throttle.acquire(records=1) == 0.0
    assert throttle.settings().requests_per_second == 100


def test_two_dispatchers_sharing_the_emulator_bucket_never_exceed_the_rate(stack: boto3.Session) -> None:
    table = for_stage("local").table("config").name
    throttles = [DynamoDbThrottle(table, stack.client("dynamodb")) for _ in range(2)]
    throttles[0].configure(requests_per_second=20, records_per_second=100_000, burst_seconds=0.1)
    granted, start = 0, time.time()
    while time.time() - start < 1.0:
        for throttle in throttles:
            if throttle.acquire(records=1) == 0.0:
                granted += 1
    elapsed = time.time() - start

    assert granted <= 20 * elapsed + 2 + 1
    assert granted >= 10
