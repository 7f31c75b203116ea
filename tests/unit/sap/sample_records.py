"""Builders of dispatch records with fake people, shared by the SAP tests."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.sap.payloads import DispatchMessage, DispatchRecord, SapContact, SapInteraction, SapPermission

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORIGIN = "DATA_ENGINE"


def a_record(
    number: int, *, email: str | None = None, first_name: str = "Ann", interactions: int = 1, subject: str | None = None
) -> DispatchRecord:
    subject_id = subject or f"subject-{number}"
    address = email or f"person{number}@example.com"
    contact = SapContact(
        contact_origin=ORIGIN,
        contact_id=subject_id,
        origin_timestamp=NOW,
        email=address,
        first_name=first_name,
        last_name="Example",
        country="DE",
        language="DE",
    )
    permission = SapPermission(
        contact_origin=ORIGIN,
        contact_id=subject_id,
        permission_id=address,
        opt_in="Y",
        timestamp=NOW,
        source_system="EVENTBRITE",
    )
    return DispatchRecord(
        record_id=f"record-{number}",
        subject_id=subject_id,
        contact=contact,
        permissions=[permission],
        interactions=[
            SapInteraction(
                contact_origin=ORIGIN,
                contact_id=subject_id,
                communication_medium="WEB",
                interaction_type="EVENT_REGISTRATION",
                timestamp=NOW,
                source_system="EVENTBRITE",
                source_object_type="TICKET",
                source_object=f"record-{number}-{n}",
                amount="49.90",
                currency="EUR",
            )
            for n in range(interactions)
        ],
    )


def a_message_body(*records: DispatchRecord) -> str:
    return DispatchMessage(records=list(records)).model_dump_json()
