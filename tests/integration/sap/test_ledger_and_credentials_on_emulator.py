"""The dispatch ledger's conditional writes and the SAP secret, on the AWS emulator."""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
import pytest

from chalicelib.resources import for_stage
from chalicelib.sap.credentials import load_credentials
from chalicelib.sap.ledger import (
    DELIVERED,
    IN_DOUBT,
    PENDING,
    REJECTED_BY_SAP,
    WITHDRAWN,
    DynamoDbLedger,
    Settlement,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(stack: boto3.Session, clock: Clock) -> DynamoDbLedger:
    return DynamoDbLedger(for_stage("local").table("sap-ledger").name, stack.client("dynamodb"), clock=clock)


def test_a_record_is_claimed_once_while_its_lease_lasts(ledger: DynamoDbLedger) -> None:
    first = ledger.claim("r1", "dispatcher-a", 60)
    second = ledger.claim("r1", "dispatcher-b", 60)

    assert first.status == "claimed" and not first.in_doubt
    assert second.status == "busy" and second.busy_until == 1_060.0


def test_a_delivered_record_is_never_claimed_again(ledger: DynamoDbLedger) -> None:
    ledger.claim("r1", "a", 60)
    assert ledger.settle(Settlement("r1", DELIVERED, contact_done=True), "a")

    claim = ledger.claim("r1", "b", 60)

    assert claim.status == "final" and claim.final_state == DELIVERED


def test_an_expired_lease_is_taken_over_in_doubt(ledger: DynamoDbLedger, clock: Clock) -> None:
    # GIVEN dispatcher a died holding the record
    ledger.claim("r1", "a", 60)

    # WHEN b claims it after the lease
    clock.now += 61
    claim = ledger.claim("r1", "b", 60)

    # THEN b holds it, in doubt, and a's late settle is refused
    assert claim.status == "claimed" and claim.in_doubt
    assert not ledger.settle(Settlement("r1", DELIVERED), "a")
    assert ledger.settle(Settlement("r1", DELIVERED), "b")


def test_a_pending_record_is_claimed_again_without_doubt_and_keeps_its_contact_progress(ledger: DynamoDbLedger) -> None:
    ledger.claim("r1", "a", 60)
    ledger.settle(Settlement("r1", PENDING, contact_done=True), "a")

    claim = ledger.claim("r1", "b", 60)

    assert claim.status == "claimed" and not claim.in_doubt and claim.contact_done


def test_an_in_doubt_settle_frees_the_record_for_a_doubtful_claim(ledger: DynamoDbLedger) -> None:
    ledger.claim("r1", "a", 60)
    ledger.settle(Settlement("r1", IN_DOUBT), "a")

    claim = ledger.claim("r1", "b", 60)

    assert claim.status == "claimed" and claim.in_doubt


def test_many_claims_at_once(ledger: DynamoDbLedger) -> None:
    claims = ledger.claim_many([f"r{n}" for n in range(20)], "a", 60)

    assert {c.status for c in claims.values()} == {"claimed"} and len(claims) == 20


def test_a_record_held_for_one_message_is_seen_by_another_and_its_answer_too(ledger: DynamoDbLedger) -> None:
    # GIVEN dispatcher a holds r1 and r2 for message m1 (one claim item for both)
    ledger.claim_many(["r1", "r2"], "a", 60, {"r1": "m1", "r2": "m1"})

    # WHEN dispatcher b meets r1 in message m2 while a sends, and again after a settled
    held = ledger.claim_many(["r1", "r3"], "b", 60, {"r1": "m2", "r3": "m2"})
    ledger.settle_many([Settlement("r1", DELIVERED, contact_done=True), Settlement("r2", PENDING)], "a")
    after = ledger.claim_many(["r1", "r2"], "b", 60, {"r1": "m3", "r2": "m3"})

    # THEN b first sees m1's live lease, then r1's answer and r2 free (not in doubt)
    assert (held["r1"].status, held["r1"].holder, held["r3"].status) == ("busy", "m1", "claimed")
    assert (after["r1"].status, after["r1"].final_state) == ("final", DELIVERED)
    assert after["r2"].status == "claimed" and not after["r2"].in_doubt
    assert ledger.state("r1") == DELIVERED and ledger.state("r2") == "SENDING"


def test_a_rejected_record_is_reopened_and_claimed_afresh_while_a_delivered_one_is_not(
    ledger: DynamoDbLedger,
) -> None:
    ledger.claim_many(["bad", "good"], "a", 60, {"bad": "m1", "good": "m1"})
    ledger.settle_many([Settlement("bad", REJECTED_BY_SAP, reason="400 X"), Settlement("good", DELIVERED)], "a")

    assert ledger.reopen("bad") and not ledger.reopen("good") and not ledger.reopen("never-seen")
    assert ledger.state("bad") == PENDING
    claim = ledger.claim("bad", "b", 60, "m2")
    assert claim.status == "claimed" and not claim.in_doubt


def test_parking_a_record_in_flight_keeps_its_claim(ledger: DynamoDbLedger, clock: Clock) -> None:
    # GIVEN a record whose dispatcher died mid-send, parked twice by the dead-letter watch
    ledger.claim("r1", "a", 10, "m1")
    clock.now += 11
    first = ledger.park_many(["r1"])
    clock.now += 5

    # THEN its parked time is the first, a replay unparks it, and it is still taken over in doubt
    assert ledger.park_many(["r1"]) == first == {"r1": 1_011.0}
    assert ledger.unpark_many(["r1"]) == {"r1"}
    claim = ledger.claim("r1", "b", 60, "m1")
    assert claim.status == "claimed" and claim.in_doubt


def test_a_claim_keeps_the_parked_mark_of_a_record_parked_before_it_was_sent(ledger: DynamoDbLedger) -> None:
    # GIVEN a record parked before any dispatcher held it (its message dead-lettered)
    assert ledger.park_many(["r1"]) == {"r1": 1_000.0}

    # WHEN a dispatcher claims it (a replay before the unpark, say)
    claim = ledger.claim("r1", "a", 60, "m1")

    # THEN it holds the record, and the parked mark is still there to be cleared by the replay
    assert claim.status == "claimed"
    assert ledger.park_many(["r1"]) == {"r1": 1_000.0}


def race_after_read(
    ledger: DynamoDbLedger, monkeypatch: pytest.MonkeyPatch, other: Callable[[DynamoDbLedger, list[str]], None]
) -> None:
    """Let `other` (another ledger user, on the same table) write once, just after `ledger`'s
    first read: between a claim's read and its write."""
    read = ledger._views  # the test puts a second writer between the claim's read and its write
    raced: list[bool] = []

    def read_then_race(record_ids: list[str]) -> dict[str, object]:
        views = read(record_ids)
        if not raced:
            raced.append(True)
            other(DynamoDbLedger(ledger.table_name, ledger.client, clock=ledger.clock), record_ids)
        return views

    monkeypatch.setattr(ledger, "_views", read_then_race)


def test_a_park_between_a_claims_read_and_its_write_makes_the_claim_yield(
    ledger: DynamoDbLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the dead-letter watch parks the record just after a dispatcher read it
    race_after_read(ledger, monkeypatch, lambda watch, ids: watch.park_many(ids))

    # WHEN the dispatcher moves the pointer
    claim = ledger.claim("r1", "a", 60, "m1")

    # THEN the move fails (the item changed since it was read) and the record comes back busy, still parked
    assert claim.status == "busy"
    assert ledger.park_many(["r1"]) == {"r1": 1_000.0}


def test_two_dispatchers_claiming_a_new_record_at_once_hold_it_once(
    ledger: DynamoDbLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN another dispatcher claims a never-seen record just after this one read it
    claimed: list[str] = []
    race_after_read(ledger, monkeypatch, lambda other, ids: claimed.append(other.claim(ids[0], "b", 60, "m2").status))

    # WHEN this dispatcher points the record at its own claim
    claim = ledger.claim("new", "a", 60, "m1")

    # THEN the other holds it, and this one yields: busy, held for the other message
    assert claimed == ["claimed"]
    assert (claim.status, claim.holder) == ("busy", "m2")


def test_a_withdrawal_between_a_claims_read_and_its_write_wins(
    ledger: DynamoDbLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the erasure withdraws a never-seen record just after a dispatcher read it
    race_after_read(ledger, monkeypatch, lambda erasure, ids: erasure.withdraw_many(ids, "ERASED"))

    # WHEN the dispatcher claims it
    claim = ledger.claim("gone", "a", 60, "m1")

    # THEN it is final and withdrawn: never sent
    assert (claim.status, claim.final_state) == ("final", WITHDRAWN)


def test_credentials_come_from_the_declared_secret_in_a_deployed_function(stack: boto3.Session) -> None:
    # GIVEN operators put the communication user into the declared secret
    secrets, name = stack.client("secretsmanager"), for_stage("local").secret("sap").name
    secrets.put_secret_value(
        SecretId=name,
        SecretString=json.dumps(
            {"base_url": "https://my300000-api.s4hana.ondemand.com/", "user": "COMM_USER", "password": "pw"}
        ),
    )

    credentials = load_credentials(lambda service: secrets, {"SAP_SECRET": name})

    assert credentials.base_url == "https://my300000-api.s4hana.ondemand.com"
    assert credentials.user == "COMM_USER"
    assert "pw" not in repr(credentials)


def test_credentials_come_from_ssm_when_a_parameter_is_named(stack: boto3.Session) -> None:
    ssm = stack.client("ssm")
    ssm.put_parameter(
        Name="/data-engine/local/sap",
        Type="SecureString",
        Value=json.dumps({"base_url": "https://sap.example", "user": "U", "password": "P"}),
    )

    credentials = load_credentials(lambda service: ssm, {"SAP_PARAMETER": "/data-engine/local/sap"})

    assert (credentials.base_url, credentials.user, credentials.password) == ("https://sap.example", "U", "P")


def test_a_withdrawn_record_is_final_for_claims_parking_and_replays(ledger: DynamoDbLedger, clock: Clock) -> None:
    # GIVEN a new record, one PENDING, one whose holder died, one delivered and one held right now
    ledger.claim("pending", "a", 60)
    ledger.settle(Settlement("pending", PENDING), "a")
    ledger.claim("dead", "a", 10)
    ledger.claim("delivered", "a", 60)
    ledger.settle(Settlement("delivered", DELIVERED), "a")
    ledger.claim("held", "b", 600)
    clock.now += 30
    # WHEN the records of an erased subject are withdrawn
    withdrawals = ledger.withdraw_many(["new", "pending", "dead", "delivered", "held"], "SUBJECT_ERASED")
    # THEN the first three are WITHDRAWN, final for every later claim, park and replay
    assert {r: w.status for r, w in withdrawals.items()} == {
        "new": "withdrawn",
        "pending": "withdrawn",
        "dead": "withdrawn",
        "delivered": "final",
        "held": "busy",
    }
    assert withdrawals["delivered"].final_state == DELIVERED and withdrawals["held"].busy_until == 1_600.0
    for record_id in ("new", "pending", "dead"):
        assert ledger.state(record_id) == WITHDRAWN
        claim = ledger.claim(record_id, "c", 60)
        assert claim.status == "final" and claim.final_state == WITHDRAWN
        assert ledger.park(record_id) is None and not ledger.unpark(record_id)
    assert ledger.withdraw("new", "SUBJECT_ERASED").status == "withdrawn"  # again: same answer
