"""Typed SAP payloads: OData V2 JSON bodies, keys, and the check against the metadata."""

from __future__ import annotations

from chalicelib.sap.payloads import DispatchMessage, key_predicate, odata_datetime
from tests.unit.sap.sample_records import NOW, a_message_body, a_record


def test_it_writes_contacts_with_sap_field_names_and_odata_dates() -> None:
    body = a_record(1).contact.origin_data()  # type: ignore[union-attr]

    assert body["ContactOrigin"] == "DATA_ENGINE"
    assert body["EmailAddress"] == "person1@example.com"
    assert body["OriginDataLastChgUTCDateTime"] == odata_datetime(NOW) == "/Date(1795867200000)/"
    assert "email_id_origin" not in body


def test_it_sends_the_email_as_an_additional_id() -> None:
    (additional,) = a_record(1).contact.additional_ids()  # type: ignore[union-attr]

    assert additional["InteractionContactAdditionalOrigin"] == "EMAIL"
    assert additional["InteractionContactAdditionalExternalID"] == "person1@example.com"


def test_it_writes_decimals_as_strings_as_odata_v2_wants() -> None:
    body = a_record(1).interactions[0].body()

    assert body["InteractionAmount"] == "49.90"
    assert body["InteractionSourceObject"] == "record-1-0"


def test_it_quotes_key_values_for_the_url() -> None:
    assert key_predicate({"A": "O'Brien", "B": "x y"}) == "(A='O%27%27Brien',B='x%20y')"


def test_a_permission_key_has_all_seven_key_fields_of_the_metadata() -> None:
    keys = a_record(1).permissions[0].keys

    assert list(keys) == [
        "ContactID",
        "ContactOrigin",
        "ContactPermissionID",
        "ContactPermissionOrigin",
        "MarketingArea",
        "CommunicationMedium",
        "CommunicationCategory",
    ]


def test_a_valid_record_has_no_problems_and_a_long_name_has_one_without_the_value() -> None:
    assert a_record(1).problems() == []

    problems = a_record(2, first_name="Maximiliana-Konstantina-Friederike-Walburga").problems()

    assert problems == ["ContactOriginData.FirstName: longer than 40 characters"]


def test_a_queue_message_body_round_trips() -> None:
    body = a_message_body(a_record(1), a_record(2))

    message = DispatchMessage.model_validate_json(body)

    assert [r.record_id for r in message.records] == ["record-1", "record-2"]
    assert message.records[0] == a_record(1)
