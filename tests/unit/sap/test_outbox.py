"""The SAP outbox: the mapping from the normalized schema, packing, and sending to the FIFO queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.normalize.schema import Consent, Contact, Event, Interaction, InteractionType, Lineage, NormalizedRecord
from chalicelib.sap.exceptions import OutboxUnavailable
from chalicelib.sap.outbox import (
    INVALID_FOR_SAP,
    MAX_MESSAGE_BYTES,
    NO_SUBJECT,
    SapOutbox,
    Unsendable,
    pack,
    to_dispatch_record,
)
from chalicelib.sap.payloads import DispatchMessage

AT = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def a_normalized(
    number: int,
    *,
    subject: str | None = "subject",
    email: str | None = None,
    first_name: str = "Ann",
    consent: bool | None = True,
) -> NormalizedRecord:
    address = email or f"person{number}@example.com"
    return NormalizedRecord(
        document_id=f"doc-{number}",
        subject_id=f"{subject}-{number}" if subject else None,
        contact=Contact(
            email=address if subject else None,
            first_name=first_name,
            last_name="Example",
            phone="+4930123456",
            country="DE",
            language="de",
            marketing_consent=None if consent is None else Consent(granted=consent, source="form"),
        ),
        interaction=Interaction(
            type=InteractionType.TICKET_PURCHASE, occurred_at=AT, amount=Decimal("49.90"), currency="EUR"
        ),
        event=Event(id="ev-1", name="Summer Festival"),
        lineage=Lineage(
            source="eventbrite",
            source_record_id=f"r{number}",
            raw_key="incoming/x.json",
            position=number,
            ingested_at=AT,
        ),
    )


class RecordingSqs:
    """Twin of SQS's SendMessageBatch; `fail` entry ids fail that many times."""

    def __init__(self, failures: int = 0) -> None:
        self.entries: list[dict[str, Any]] = []
        self.calls = 0
        self.failures = failures

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            return {
                "Successful": [],
                "Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries],
            }
        assert len(Entries) <= 10
        assert sum(len(e["MessageBody"].encode()) for e in Entries) <= 256 * 1024
        self.entries.extend(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    def records(self) -> list[tuple[str, str]]:
        return [
            (entry["MessageGroupId"], record.document)
            for entry in self.entries
            for record in DispatchMessage.model_validate_json(entry["MessageBody"]).records
        ]


def test_a_record_maps_to_a_contact_keyed_by_its_subject_with_consent_and_one_interaction() -> None:
    record = to_dispatch_record(a_normalized(1))

    assert (record.record_id, record.document, record.subject_id) == ("doc-1:ticket_purchase", "doc-1", "subject-1")
    assert record.contact is not None and record.contact.keys == {
        "ContactOrigin": "DATA_ENGINE",
        "ContactID": "subject-1",
    }
    assert record.contact.origin_data()["Language"] == "DE"
    assert record.contact.additional_ids()[0]["InteractionContactAdditionalExternalID"] == "person1@example.com"
    (permission,) = record.permissions
    assert permission.body()["ContactPermission"] == "Y"
    (interaction,) = record.interactions
    assert interaction.natural_key == ("eventbrite", "DOCUMENT", "doc-1", "TICKET_PURCHASE")
    assert interaction.body()["InteractionType"] == "TICKET_PURCHASE"
    assert interaction.body()["InteractionAmount"] == "49.90"
    assert record.problems() == []


def test_a_refused_consent_is_sent_as_an_opt_out_and_no_consent_sends_no_permission() -> None:
    assert to_dispatch_record(a_normalized(1, consent=False)).permissions[0].opt_in == "N"
    assert to_dispatch_record(a_normalized(1, consent=None)).permissions == []


def test_the_mapping_is_deterministic() -> None:
    assert to_dispatch_record(a_normalized(1)) == to_dispatch_record(a_normalized(1))


def test_a_record_without_subject_is_not_sent() -> None:
    with pytest.raises(Unsendable) as raised:
        to_dispatch_record(a_normalized(1, subject=None))
    assert raised.value.reason_code == NO_SUBJECT


def test_names_are_cut_to_sap_lengths_but_a_too_long_email_is_unsendable() -> None:
    record = to_dispatch_record(a_normalized(1, first_name="N" * 60))
    assert record.contact is not None and record.contact.first_name == "N" * 40

    with pytest.raises(Unsendable) as raised:
        to_dispatch_record(a_normalized(1, email="x" * 240 + "@example.com"))
    assert raised.value.reason_code == INVALID_FOR_SAP


def test_send_queues_the_sendable_and_returns_the_others_with_their_reason() -> None:
    sqs = RecordingSqs()
    records = [a_normalized(1), a_normalized(2, subject=None), a_normalized(3, email="x" * 240 + "@example.com")]

    result = SapOutbox("queue-url", sqs).send(records)

    assert result.queued == ["doc-1"]
    assert result.unsendable == {"doc-2": NO_SUBJECT, "doc-3": INVALID_FOR_SAP}
    assert [record_id for _, record_id in sqs.records()] == ["doc-1"]


def test_one_subjects_records_share_a_message_group_in_their_order() -> None:
    sqs = RecordingSqs()
    records = [a_normalized(n % 3, subject="same") for n in range(9)]
    records = [r.model_copy(update={"document_id": f"doc-{n}"}) for n, r in enumerate(records)]

    SapOutbox("queue-url", sqs, shards=4, per_message=2).send(records)

    by_subject: dict[str, set[str]] = {}
    order: dict[str, list[str]] = {}
    for group, record_id in sqs.records():
        subject = next(r.subject_id for r in records if r.document_id == record_id)
        by_subject.setdefault(subject, set()).add(group)
        order.setdefault(subject, []).append(record_id)
    assert all(len(groups) == 1 for groups in by_subject.values())
    assert order["same-0"] == ["doc-0", "doc-3", "doc-6"]


def test_many_records_travel_per_message_within_sqs_limits_and_dedup_ids_are_stable() -> None:
    records = [to_dispatch_record(a_normalized(n, first_name="A" * 40)) for n in range(1000)]

    messages = pack(records, shards=2, per_message=500)

    assert sum(len(m.document_ids) for m in messages) == 1000
    assert all(len(m.body.encode()) <= MAX_MESSAGE_BYTES for m in messages)
    assert len(messages) < 20
    assert [m.deduplication_id for m in pack(records, shards=2, per_message=500)] == [
        m.deduplication_id for m in messages
    ]
    assert all(len(m.deduplication_id) <= 128 for m in messages)
    assert json.loads(messages[0].body)["version"] == 1


def test_failed_entries_are_sent_again_and_a_lasting_failure_raises() -> None:
    flaky = RecordingSqs(failures=2)
    assert SapOutbox("queue-url", flaky).send([a_normalized(1)]).queued == ["doc-1"]
    assert flaky.calls == 3

    with pytest.raises(OutboxUnavailable):
        SapOutbox("queue-url", RecordingSqs(failures=99)).send([a_normalized(1)])
