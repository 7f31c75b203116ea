"""Ids, reasons without personal values, and properties of normalization (hypothesis)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.normalize import field_normalizers as fields
from chalicelib.normalize.normalizer import (
    DOCUMENT_NAMESPACE,
    NONE_STAYS_NONE,
    document_id,
    normalize,
    record_by_parts,
)
from chalicelib.normalize.schema import Consent, NormalizedRecord, Rejected
from chalicelib.normalize.sources import SOURCES
from chalicelib.raw_files.records import RawRecord
from chalicelib.subjects.exceptions import WeakSubjectKey
from chalicelib.subjects.pseudonyms import subject_id
from tests.unit.normalize.conftest import INGESTED_AT, SUBJECT_KEY

KEY = "incoming/canonical/2026/11/28/abc.jsonl"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
# dicts shaped a little like the platforms' records, so the connectors go deep, not just bail out
field_names = st.sampled_from(
    [
        "id",
        "email",
        "profile",
        "costs",
        "field_data",
        "user_column_data",
        "lead_id",
        "created",
        "created_time",
        "checked_in",
        "contact",
        "interaction",
        "event",
        "record_id",
        "platform",
        "E-Mail",
        "Status",
        "Preis",
        "Bestelldatum",
        "sku",
        "amazon-order-id",
        "purchase-date",
        "item-price",
        "currency",
        "Ticketnummer",
    ]
)
records = st.dictionaries(field_names | st.text(max_size=10), json_values, max_size=10)


def canonical(**contact: object) -> RawRecord:
    data = {
        "platform": "p",
        "record_id": "r1",
        "contact": {"email": "anna.schmidt@example.com", **contact},
        "interaction": {"type": "registration", "occurred_at": "2026-05-01T10:00:00Z"},
    }
    return RawRecord(position=1, source_record_id=None, data=data)


def test_document_id_is_deterministic_and_fixed_length() -> None:
    assert document_id("eventbrite", "1") == document_id("eventbrite", "1")
    assert document_id("eventbrite", "1") != document_id("eventbrite", "2")
    assert document_id("eventbrite", "1") != document_id("google_ads", "1")
    assert len(document_id("canonical", "x" * 500)) == 36


def test_redelivering_a_record_gives_the_same_document() -> None:
    first = normalize("canonical", canonical(), KEY, INGESTED_AT, SUBJECT_KEY)
    again = normalize(
        "canonical",
        canonical(),
        "incoming/canonical/2026/12/01/other.jsonl",
        datetime(2026, 12, 1, tzinfo=UTC),
        SUBJECT_KEY,
    )
    assert isinstance(first, NormalizedRecord) and isinstance(again, NormalizedRecord)
    assert first.document_id == again.document_id


def test_subject_id_is_a_keyed_hmac_of_the_normalized_email() -> None:
    record = normalize("canonical", canonical(email="  Anna.Schmidt@EXAMPLE.com "), KEY, INGESTED_AT, SUBJECT_KEY)
    assert record.subject_id == subject_id("anna.schmidt@example.com", SUBJECT_KEY)
    assert len(record.subject_id) == 64 and "anna" not in record.subject_id
    assert subject_id("anna.schmidt@example.com", b"another-key-of-32-bytes-length!!") != record.subject_id


def test_a_short_subject_key_is_a_configuration_error() -> None:
    with pytest.raises(WeakSubjectKey):
        normalize("canonical", canonical(), KEY, INGESTED_AT, b"short")


def test_names_are_stored_in_nfc() -> None:
    record = normalize(
        "canonical", canonical(first_name="Zoe\u0308", last_name="Mu\u0308ller"), KEY, INGESTED_AT, SUBJECT_KEY
    )
    assert (record.contact.first_name, record.contact.last_name) == ("Zo\u00eb", "M\u00fcller")


def test_an_unknown_source_is_a_rejection_not_a_crash() -> None:
    outcome = normalize("myspace", canonical(), KEY, INGESTED_AT, SUBJECT_KEY)
    assert isinstance(outcome, Rejected) and outcome.reasons[0].code == "unknown_source"


SECRETS = {
    "email": "geheim.person@@example.com",
    "phone": "+49 1 SECRET 99",
    "country": "Secretland",
    "language": "xx-SECRET",
    "first_name": "Sec\x00ret",
}


def test_reasons_never_quote_the_offending_value() -> None:
    # GIVEN a record where every personal field is invalid
    outcome = normalize("canonical", canonical(**SECRETS), KEY, INGESTED_AT, SUBJECT_KEY)
    # THEN each field has a reason, and nothing of the values appears anywhere in the rejection
    assert isinstance(outcome, Rejected)
    assert {r.field for r in outcome.reasons} >= {
        "contact.email",
        "contact.phone",
        "contact.country",
        "contact.language",
        "contact.first_name",
    }
    dumped = outcome.model_dump_json()
    for value in SECRETS.values():
        for fragment in (value, value.lower(), "geheim", "SECRET", "Secret"):
            assert fragment not in dumped


def test_field_normalizer_errors_carry_no_value() -> None:
    with pytest.raises(fields.FieldInvalid) as caught:
        fields.email("geheim.person@@example.com")
    assert "geheim" not in str(caught.value) and "geheim" not in repr(caught.value.args)


@FAST
@given(
    source=st.sampled_from([*sorted(SOURCES), "nope"]),
    data=records,
    record_id=st.none() | st.text(max_size=20),
    position=st.integers(),
)
def test_normalize_never_raises_on_arbitrary_records(
    source: str, data: dict, record_id: str | None, position: int
) -> None:
    outcome = normalize(
        source, RawRecord(position=position, source_record_id=record_id, data=data), KEY, INGESTED_AT, SUBJECT_KEY
    )
    assert isinstance(outcome, (NormalizedRecord, Rejected))
    if isinstance(outcome, Rejected):
        assert outcome.reasons
        json.dumps(outcome.model_dump(mode="json"))


@FAST
@given(data=st.from_type(object).filter(lambda v: not isinstance(v, dict)) | json_values)
def test_normalize_never_raises_when_the_record_is_not_even_a_dict(data: object) -> None:
    outcome = normalize(
        "eventbrite",
        RawRecord(position=1, source_record_id=None, data=data),
        KEY,  # type: ignore[arg-type]
        INGESTED_AT,
        SUBJECT_KEY,
    )
    assert isinstance(outcome, Rejected)


@FAST
@given(address=st.emails() | st.text(max_size=40))
def test_email_normalization_is_idempotent(address: str) -> None:
    try:
        once = fields.email(address)
    except fields.FieldInvalid:
        return
    assert fields.email(once) == once


@FAST
@given(number=st.text(alphabet="+0123456789 -()", max_size=20), region=st.sampled_from([None, "DE", "FR", "US", "GB"]))
def test_phone_normalization_is_idempotent(number: str, region: str | None) -> None:
    try:
        once = fields.phone(number, region)
    except fields.FieldInvalid:
        return
    assert fields.phone(once) == once and fields.phone(once, "JP") == once


@FAST
@given(value=json_values)
def test_field_normalizers_raise_only_field_invalid(value: object) -> None:
    for normalizer in (
        fields.email,
        fields.phone,
        fields.country,
        fields.language,
        fields.currency,
        fields.amount,
        fields.quantity,
        fields.flag,
        fields.instant,
        fields.name,
    ):
        with contextlib.suppress(fields.FieldInvalid):
            normalizer(value)


@FAST
@given(record_id=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
def test_document_ids_are_the_standard_uuid5_of_the_namespace(record_id: str) -> None:
    assert document_id("canonical", record_id) == str(uuid.uuid5(DOCUMENT_NAMESPACE, f"canonical\x1f{record_id}"))


def test_ids_never_change_between_releases() -> None:
    assert document_id("eventbrite", "12345") == "27fb75ee-8ef2-5c3d-8074-4d6b249c210d"
    assert subject_id("anna.schmidt@example.com", b"k" * 32) == (
        "7c4967097e02ca3f3f54d0c994cc2930f276ecf08f4e2f5adeac41ab549bc872"
    )


@pytest.mark.parametrize("normalizer", sorted(NONE_STAYS_NONE, key=lambda f: f.__name__))
@pytest.mark.parametrize(
    "arguments",
    [{}, {"max_length": 5}, {"formats": ("%d.%m.%Y",), "local_timezone": "Europe/Berlin"}, {"decimal_comma": True}],
)
def test_every_normalizer_the_checker_skips_for_none_answers_none_itself(normalizer, arguments) -> None:
    try:
        answer = normalizer(None, **arguments)
    except TypeError:  # an argument this normalizer does not take
        return
    assert answer is None


_aware = st.datetimes(timezones=st.just(UTC))
_maybe_naive = _aware | st.datetimes()
_parts = st.fixed_dictionaries(
    {
        "document_id": st.just("d" * 36),
        "subject_id": st.none() | st.just("s" * 64),
        "contact": st.fixed_dictionaries(
            {
                "email": st.none() | st.sampled_from(["anna@example.com", "x" * 321]),
                "first_name": st.none() | st.text(max_size=3) | st.just("a" * 201),
                "last_name": st.none() | st.text(max_size=3),
                "phone": st.none() | st.sampled_from(["+4930123456", "030123456", "+0123"]),
                "country": st.none() | st.sampled_from(["DE", "de", "DEU"]),
                "language": st.none() | st.sampled_from(["de", "DE"]),
                "marketing_consent": st.none()
                | st.builds(Consent, granted=st.booleans(), at=st.none() | _aware, source=st.just("web")),
            }
        ),
        "interaction": st.fixed_dictionaries(
            {
                "type": st.sampled_from(["order", "check_in", "nonsense"]),
                "occurred_at": _maybe_naive,
                "amount": st.none()
                | st.decimals(allow_nan=False, allow_infinity=False, places=4, max_value=10**13, min_value=-(10**13))
                | st.just(Decimal("1.23456")),
                "currency": st.none() | st.sampled_from(["EUR", "eur"]),
                "order_id": st.none() | st.text(max_size=3),
                "item": st.none() | st.text(max_size=3),
                "quantity": st.none() | st.integers(min_value=-2, max_value=5),
            }
        ),
        "event": st.none()
        | st.fixed_dictionaries(
            {
                "id": st.none() | st.just("e1"),
                "name": st.none() | st.text(max_size=3),
                "start": st.none() | _maybe_naive,
                "venue": st.none() | st.just("Halle"),
                "country": st.none() | st.sampled_from(["AT", "at"]),
            }
        ),
        "lineage": st.fixed_dictionaries(
            {
                "source": st.just("canonical"),
                "source_record_id": st.just("r1"),
                "raw_key": st.just(KEY),
                "position": st.integers(min_value=0, max_value=9),
                "ingested_at": _maybe_naive,
            }
        ),
    }
)


def _outcome(build, data):
    try:
        return build(data)
    except ValidationError:
        return "invalid"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_parts)
def test_validating_the_whole_record_at_once_is_building_it_part_by_part(data: dict) -> None:
    assert _outcome(NormalizedRecord.model_validate, data) == _outcome(record_by_parts, data)


def test_a_schema_violation_keeps_the_failing_parts_own_field_path() -> None:
    # GIVEN a record whose interaction breaks the schema
    data = {
        "document_id": "d",
        "subject_id": None,
        "contact": {},
        "event": None,
        "lineage": {
            "source": "canonical",
            "source_record_id": "r1",
            "raw_key": KEY,
            "position": 1,
            "ingested_at": INGESTED_AT,
        },
        "interaction": {"type": "nonsense", "occurred_at": INGESTED_AT},
    }
    # WHEN it is built part by part (what `normalize` falls back to on a violation)
    with pytest.raises(ValidationError) as caught:
        record_by_parts(data)
    # THEN the error is located in the part, as rejections have always reported it
    assert [error["loc"] for error in caught.value.errors()] == [("type",)]


@settings(max_examples=500, deadline=None)
@given(key=st.binary(min_size=16, max_size=200), email=st.text(max_size=80), as_bytearray=st.booleans())
@example(key=b"k" * 63, email="anna@example.com", as_bytearray=False)
@example(key=b"k" * 64, email="anna@example.com", as_bytearray=False)
@example(key=b"k" * 65, email="anna@example.com", as_bytearray=False)
def test_a_subject_id_is_the_standard_hmac_sha256_of_the_email(key: bytes, email: str, as_bytearray: bool) -> None:
    # keys shorter and longer than SHA-256's 64-byte block (a longer one is hashed first)
    given_key = bytearray(key) if as_bytearray else key
    assert subject_id(email, given_key) == hmac.new(key, email.encode("utf-8"), hashlib.sha256).hexdigest()
    assert subject_id(email, SUBJECT_KEY) == hmac.new(SUBJECT_KEY, email.encode("utf-8"), hashlib.sha256).hexdigest()
