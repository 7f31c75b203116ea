"""Erasure in SAP against the stand-in over HTTP: contacts sent by the dispatcher, then erased."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from chalicelib.sap.batch import Changeset, Operation
from chalicelib.sap.client import SapClient
from chalicelib.sap.dispatcher import DELIVERED
from chalicelib.sap.erasure import ErasureOptions, SapErasure, contact_path
from chalicelib.sap.ledger import InMemoryLedger
from chalicelib.sap.metadata import CONTACT_SERVICE
from chalicelib.sap.payloads import odata_datetime
from chalicelib.sap.throttle import InMemoryThrottle
from sapstandin import StandIn
from tests.integration.sap.test_dispatch_to_standin import FAST, messages_of, run_until_final

PERSONAL = ("EmailAddress", "FirstName", "LastName", "FullName", "PhoneNumber")


def dispatched(standin: StandIn, sap_client: SapClient, count: int) -> dict[str, str]:
    """`count` records (subject-0…) sent by the normal dispatch path; the stand-in holds them."""
    final = run_until_final(messages_of(count), sap_client, InMemoryThrottle(FAST), InMemoryLedger())
    assert set(final.values()) == {DELIVERED}
    return final


def contacts_by_id(standin: StandIn) -> dict[str, dict]:
    return {c["ContactID"]: c for c in standin.records()["contacts"]}


def test_an_erased_contact_keeps_no_email_name_or_phone_and_others_are_unchanged(
    standin: StandIn, sap_client: SapClient
) -> None:
    # GIVEN three contacts in SAP
    dispatched(standin, sap_client, 3)
    before = contacts_by_id(standin)

    # WHEN subject-1 is erased
    result = SapErasure(sap_client, InMemoryThrottle(FAST)).erase(["subject-1"])

    # THEN SAP holds no email, name or phone of it, it is marked obsolete, its IDs are gone
    assert result.counts() == {"marked_for_deletion": 1, "not_in_sap": 0, "failed": 0}
    records = standin.records()
    after = contacts_by_id(standin)
    assert all(after["subject-1"].get(name) is None for name in PERSONAL) and after["subject-1"]["IsObsolete"]
    assert "person1@example.com" not in json.dumps([records["contacts"], records["additional_ids"]])
    assert {a["ContactID"] for a in records["additional_ids"]} == {"subject-0", "subject-2"}
    assert records["counts"]["contacts_marked_for_deletion"] == 1
    # AND the other contacts are exactly as before
    assert {k: v for k, v in after.items() if k != "subject-1"} == {k: v for k, v in before.items() if k != "subject-1"}
    # AND once SAP's deletion jobs ran, nothing of it is left (its consent included)
    standin.delete_obsolete_contacts()
    assert "person1@example.com" not in json.dumps(standin.records())
    assert "subject-1" not in json.dumps(standin.records())


def test_a_subject_never_sent_is_not_in_sap_and_nothing_is_created(standin: StandIn, sap_client: SapClient) -> None:
    dispatched(standin, sap_client, 1)

    result = SapErasure(sap_client, InMemoryThrottle(FAST)).erase(["subject-0", "never-sent"])

    assert result.outcomes == {"subject-0": "MARKED_FOR_DELETION", "never-sent": "NOT_IN_SAP"}
    assert set(contacts_by_id(standin)) == {"subject-0"}


def test_a_429_is_waited_out_and_the_erasure_then_succeeds(standin: StandIn, sap_client: SapClient) -> None:
    # GIVEN a contact in SAP, and SAP answering the next request with 429 (Retry-After 1 s)
    dispatched(standin, sap_client, 1)
    standin.fail_next(1, 429, retry_after=1)
    throttle = InMemoryThrottle(FAST)

    # WHEN it is erased
    result = SapErasure(sap_client, throttle, options=ErasureOptions(base_delay=0.1)).erase(["subject-0"])

    # THEN it is marked for deletion after the wait, and the throttle was told
    assert result.counts()["marked_for_deletion"] == 1
    assert standin.stats()["status_429"] == 1 and throttle.overloads >= 1
    assert contacts_by_id(standin)["subject-0"]["EmailAddress"] is None


def test_an_erased_contact_reads_back_clean_and_one_changed_back_does_not(
    standin: StandIn, sap_client: SapClient
) -> None:
    # GIVEN two contacts erased in SAP
    dispatched(standin, sap_client, 2)
    eraser = SapErasure(sap_client, InMemoryThrottle(FAST))
    eraser.erase(["subject-0", "subject-1"])
    stats_before = standin.stats()

    # WHEN SAP is read back THEN both are verified, in one $batch
    assert eraser.verify(["subject-0", "subject-1"]).counts() == {"verified": 2, "not_clean": 0}
    assert standin.stats()["batches"] - stats_before["batches"] == 1

    # WHEN subject-1's contact gets its email back after the erasure (a newer change)
    later = datetime.now(UTC) + timedelta(minutes=5)
    (changed,) = sap_client.send_batch(
        CONTACT_SERVICE,
        [
            Changeset(
                "subject-1",
                (
                    Operation(
                        "PATCH",
                        contact_path("subject-1"),
                        {
                            "ContactOrigin": "DATA_ENGINE",
                            "ContactID": "subject-1",
                            "EmailAddress": "person1@example.com",
                            "OriginDataLastChgUTCDateTime": odata_datetime(later),
                        },
                    ),
                ),
            )
        ],
    )
    assert changed.kind == "accepted"

    # THEN it is not clean; the other still verified
    result = eraser.verify(["subject-0", "subject-1"])
    assert result.outcomes == {"subject-0": "VERIFIED", "subject-1": "NOT_CLEAN"}
    # AND once SAP's deletion jobs ran, a deleted contact reads back clean
    standin.delete_obsolete_contacts()
    assert eraser.verify(["subject-0"]).outcomes == {"subject-0": "VERIFIED"}
