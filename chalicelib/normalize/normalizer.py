"""Turning one raw record into a `NormalizedRecord`, or a `Rejected` with reasons.

`normalize` never raises on record content, whatever its shape (property-tested): a value
that cannot be normalized becomes a `Reason(field, code, message)` and the record is
rejected with all its reasons at once. Reason messages are fixed texts per code and never
quote the offending value; exceptions from the field normalizers carry codes only.

Ids:
* `document_id(source, source_record_id)`: a UUIDv5 over the source's id namespace and the
  platform's record id, so re-delivering a record addresses the same document.
* the subject id (`subjects/pseudonyms.py`) of the normalized email, so one person's
  records join without the email leaving the lake.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from chalicelib.normalize import field_normalizers as fields
from chalicelib.normalize.codes import ReasonCode
from chalicelib.normalize.connectors.base import Connector, Draft
from chalicelib.normalize.exceptions import UnknownSource
from chalicelib.normalize.schema import (
    Answer,
    Consent,
    Contact,
    Event,
    Interaction,
    Lineage,
    NormalizedRecord,
    Reason,
    Rejected,
)
from chalicelib.normalize.sources import SOURCES, connector_for
from chalicelib.raw_files.records import RawRecord
from chalicelib.subjects.exceptions import WeakSubjectKey
from chalicelib.subjects.pseudonyms import MIN_SUBJECT_KEY_BYTES, subject_id

# A record id (the Data Engine's namespace for document ids); never change it.
DOCUMENT_NAMESPACE = uuid.UUID("6f1c7a52-3f0e-5d7b-9a51-0c2b8e4d7a10")

MESSAGES: dict[ReasonCode, str] = {
    ReasonCode.MISSING: "a value is required here",
    ReasonCode.INVALID_EMAIL: "not a valid email address",
    ReasonCode.INVALID_PHONE: "not a valid phone number for its country",
    ReasonCode.INVALID_COUNTRY: "not an ISO 3166 country code or English country name",
    ReasonCode.INVALID_LANGUAGE: "not an ISO 639 language code",
    ReasonCode.INVALID_DATETIME: "not a readable date and time between 1970 and 2200",
    ReasonCode.INVALID_AMOUNT: "not a decimal amount (at most 4 decimal places, under 10^14)",
    ReasonCode.INVALID_CURRENCY: "not an ISO 4217 currency code",
    ReasonCode.INVALID_QUANTITY: "not a whole non-negative quantity",
    ReasonCode.INVALID_CONSENT: "not a yes/no consent value",
    ReasonCode.INVALID_TEXT: "not text, or holds control characters",
    ReasonCode.TOO_LONG: "longer than the field allows",
    ReasonCode.UNKNOWN_INTERACTION_TYPE: "missing or not in the interaction type vocabulary",
    ReasonCode.MISSING_RECORD_ID: "the platform's record id is missing",
    ReasonCode.TEST_RECORD: "the platform marks this record as a test",
    ReasonCode.NOT_AN_OBJECT: "the record is not a JSON object",
    ReasonCode.UNKNOWN_SOURCE: "no connector for this source",
    ReasonCode.UNREADABLE_RECORD: "the record's shape cannot be read by its connector",
    ReasonCode.SCHEMA_VIOLATION: "the value breaks the normalized schema",
}

T = TypeVar("T")


def reason(field: str, code: ReasonCode) -> Reason:
    return Reason(field=field, code=code.value, message=MESSAGES[code])


def _uuid5(name: str) -> str:
    return str(uuid.uuid5(DOCUMENT_NAMESPACE, name))


def document_id(source: str, source_record_id: str) -> str:
    """Deterministic 36-character id of a platform record (UUIDv5 over the source's id namespace)."""
    connector = SOURCES.get(source)
    namespace = connector.namespace if connector is not None else source
    return _uuid5(f"{namespace}\x1f{source_record_id}")


# Normalizers that answer None for a None value whatever their other arguments (tested):
# most fields of most records are absent, so the checker skips the call for those.
NONE_STAYS_NONE: frozenset[Callable[..., Any]] = frozenset(
    {
        fields.text,
        fields.name,
        fields.country,
        fields.language,
        fields.flag,
        fields.instant,
        fields.amount,
        fields.currency,
        fields.quantity,
    }
)


class _Checker:
    """Runs field normalizers and collects a reason for each that fails."""

    def __init__(self) -> None:
        self.reasons: list[Reason] = []

    def field(self, field: str, normalizer: Callable[..., T], value: Any, *args: Any) -> T | None:
        """`normalizer(value, *args)`, or None with a reason for `field` when it fails (a plain
        method with positional arguments: it runs for every field of every record)."""
        if value is None and normalizer in NONE_STAYS_NONE:
            return None
        try:
            return normalizer(value, *args)
        except fields.FieldInvalid as exc:
            self.reasons.append(reason(field, exc.code))
            return None


def _split_full_name(full_name: str | None) -> tuple[str | None, str | None]:
    """`Anna Maria Schmidt` -> (`Anna Maria`, `Schmidt`): family name last, as the forms ask."""
    if not full_name:
        return None, None
    given, _, family = full_name.rpartition(" ")
    return (given or None, family) if given else (None, family)


def _phone(value: Any, country: str | None, default_region: str | None) -> str:
    """A national-format number is read in the contact's country, else the platform's region."""
    try:
        return fields.phone(value, country or default_region)
    except fields.FieldInvalid:
        if country and default_region and default_region != country:
            return fields.phone(value, default_region)
        raise


MAX_ANSWER_KEY = 200
MAX_ANSWER_LABEL = 500
MAX_ANSWER_VALUE = 2000
MAX_ANSWER_VALUES = 50


def _answer_text(value: Any, max_length: int) -> str | None:
    """An answer value as text: numbers and flags as written, other shapes not an answer."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, (str, int, float)):
        return None
    return fields.text(value, max_length)


def _answers(checker: _Checker, answers: list[tuple[Any, Any, list[Any]]] | None) -> list[dict[str, Any]]:
    """The answered custom questions, cleaned like other texts; a question left with no value
    is dropped. The platform's question key and label are cut to their lengths (form setup,
    not the person's input); a value longer than 2000 characters or holding control
    characters rejects the record (`answers`, once per code); beyond 50 values the rest are dropped."""
    kept: list[dict[str, Any]] = []
    codes: set[ReasonCode] = set()
    for key, label, values in answers or ():
        try:
            key_text = _answer_text(key, 10 * MAX_ANSWER_KEY)
            label_text = _answer_text(label, 10 * MAX_ANSWER_LABEL)
        except fields.FieldInvalid as exc:
            codes.add(exc.code)
            continue
        if key_text is None:
            continue
        texts: list[str] = []
        for value in values if isinstance(values, list) else [values]:
            try:
                text = _answer_text(value, MAX_ANSWER_VALUE)
            except fields.FieldInvalid as exc:
                codes.add(exc.code)
                continue
            if text is not None and len(texts) < MAX_ANSWER_VALUES:
                texts.append(text)
        if texts:
            label_cut = label_text[:MAX_ANSWER_LABEL] if label_text else None
            kept.append({"key": key_text[:MAX_ANSWER_KEY], "label": label_cut, "values": texts})
    for code in sorted(codes):
        checker.reasons.append(reason("answers", code))
    return kept


def _fallback_id(lineage_key: str, position: int) -> str:
    return _uuid5(f"raw\x1f{lineage_key}\x1f{position}")


def raw_document_id(source: str, raw: RawRecord, lineage_key: str) -> str:
    """The document id `normalize` will give this raw record, known before normalizing it
    (the splitter reports RECEIVED under it)."""
    if isinstance(raw.source_record_id, str) and raw.source_record_id:
        return document_id(source, raw.source_record_id)
    return _fallback_id(lineage_key, raw.position if isinstance(raw.position, int) else 0)


def normalize(
    source: str,
    raw: RawRecord,
    lineage_key: str,
    ingested_at: datetime,
    subject_key: bytes,
    mapping_version: int | None = None,
    connector: Connector | None = None,
) -> NormalizedRecord | Rejected:
    """The normalized record, or why not (a declared source read with `mapping_version`, the
    one its file was split with; or with `connector`, a mapping on trial). Raises only for
    configuration (`WeakSubjectKey`)."""
    if not isinstance(subject_key, (bytes, bytearray)) or len(subject_key) < MIN_SUBJECT_KEY_BYTES:
        raise WeakSubjectKey(f"the subject id key must be at least {MIN_SUBJECT_KEY_BYTES} bytes")
    position = raw.position if isinstance(raw.position, int) else 0
    try:
        connector = connector or connector_for(source, mapping_version)
    except UnknownSource:
        return Rejected(
            document_id=_fallback_id(lineage_key, position),
            source=str(source),
            source_record_id=None,
            position=position,
            reasons=[reason("source", ReasonCode.UNKNOWN_SOURCE)],
        )
    record_id = raw.source_record_id if isinstance(raw.source_record_id, str) and raw.source_record_id else None

    def rejected(reasons: list[Reason]) -> Rejected:
        doc = document_id(source, record_id) if record_id else _fallback_id(lineage_key, position)
        return Rejected(document_id=doc, source=source, source_record_id=record_id, position=position, reasons=reasons)

    if not isinstance(raw.data, dict):
        return rejected([reason("record", ReasonCode.NOT_AN_OBJECT)])
    try:
        record_id = record_id or connector.record_id(raw.data)
        draft = connector.draft(raw.data)
    except Exception:  # noqa: BLE001 - a connector must never stop the batch on an odd shape
        return rejected([reason("record", ReasonCode.UNREADABLE_RECORD)])
    if not record_id:
        return rejected([reason("source_record_id", ReasonCode.MISSING_RECORD_ID)])
    if draft.is_test:
        return rejected([reason("record", ReasonCode.TEST_RECORD)])
    try:
        return _build(connector, draft, record_id, position, lineage_key, ingested_at, subject_key, rejected)
    except ValidationError as exc:
        return rejected(
            [
                Reason(
                    field=".".join(str(p) for p in error["loc"]) or "record",
                    code=ReasonCode.SCHEMA_VIOLATION.value,
                    message=MESSAGES[ReasonCode.SCHEMA_VIOLATION],
                )
                for error in exc.errors(include_url=False, include_input=False, include_context=False)
            ]
        )
    except Exception:  # noqa: BLE001 - last line of defence: one record, never the batch
        return rejected([reason("record", ReasonCode.UNREADABLE_RECORD)])


def _build(
    connector: Connector,
    draft: Draft,
    record_id: str,
    position: int,
    lineage_key: str,
    ingested_at: datetime,
    subject_key: bytes,
    rejected: Callable[[list[Reason]], Rejected],
) -> NormalizedRecord | Rejected:
    checker = _Checker()
    check = checker.field
    when = (connector.datetime_formats, connector.local_timezone)  # instant's formats and local_timezone

    email = None
    if draft.email not in (None, "") or connector.requires_email:
        email = check("contact.email", fields.email, draft.email)
    first_name = check("contact.first_name", fields.name, draft.first_name)
    last_name = check("contact.last_name", fields.name, draft.last_name)
    if first_name is None and last_name is None and draft.full_name is not None:
        first_name, last_name = _split_full_name(check("contact.full_name", fields.name, draft.full_name))
    country = check("contact.country", fields.country, draft.country)
    phone = None
    if draft.phone not in (None, ""):
        phone = check("contact.phone", _phone, draft.phone, country, connector.default_phone_region)
    language = check("contact.language", fields.language, draft.language)

    consent = None
    granted = check("contact.marketing_consent.granted", fields.flag, draft.consent_granted)
    if granted is not None:
        consent_at = check("contact.marketing_consent.at", fields.instant, draft.consent_at, *when)
        consent = Consent(granted=granted, at=consent_at, source=draft.consent_source or connector.name)

    version_at = check("lineage.version_at", fields.instant, draft.version_at, *when)
    occurred_at = check("interaction.occurred_at", fields.instant, draft.occurred_at, *when)
    if occurred_at is None and not any(r.field == "interaction.occurred_at" for r in checker.reasons):
        if connector.ingest_time_stands_in:
            occurred_at = ingested_at
        else:
            checker.reasons.append(reason("interaction.occurred_at", ReasonCode.MISSING))
    if draft.interaction_type is None:
        checker.reasons.append(reason("interaction.type", ReasonCode.UNKNOWN_INTERACTION_TYPE))
    amount = check("interaction.amount", fields.amount, draft.amount, connector.decimal_comma)
    currency = check("interaction.currency", fields.currency, draft.currency)
    if amount is not None and currency is None and not any(r.field == "interaction.currency" for r in checker.reasons):
        checker.reasons.append(reason("interaction.currency", ReasonCode.MISSING))
    order_id = check("interaction.order_id", fields.text, draft.order_id, 200)
    item = check("interaction.item", fields.text, draft.item)
    quantity = check("interaction.quantity", fields.quantity, draft.quantity)

    event_id = check("event.id", fields.text, draft.event_id, 200)
    event_name = check("event.name", fields.text, draft.event_name)
    event_start = check("event.start", fields.instant, draft.event_start, *when)
    event_venue = check("event.venue", fields.text, draft.event_venue)
    event_country = check("event.country", fields.country, draft.event_country)
    answers = _answers(checker, draft.answers) if draft.answers else []

    if checker.reasons or occurred_at is None or draft.interaction_type is None:
        return rejected(checker.reasons)
    has_event = (
        event_id is not None
        or event_name is not None
        or event_start is not None
        or event_venue is not None
        or event_country is not None
    )
    data = {
        "document_id": document_id(connector.name, record_id),
        "subject_id": subject_id(email, subject_key) if email else None,
        "contact": {
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "phone": phone,
            "country": country,
            "language": language,
            "marketing_consent": consent,
        },
        "interaction": {
            "type": draft.interaction_type,
            "occurred_at": occurred_at,
            "amount": amount,
            "currency": currency,
            "order_id": order_id,
            "item": item,
            "quantity": quantity,
        },
        "event": {
            "id": event_id,
            "name": event_name,
            "start": event_start,
            "venue": event_venue,
            "country": event_country,
        }
        if has_event
        else None,
        "lineage": {
            "source": connector.name,
            "source_record_id": record_id,
            "raw_key": lineage_key,
            "position": position,
            "ingested_at": ingested_at,
            "version_at": version_at or ingested_at,
        },
        "answers": answers,
    }
    try:
        # one validation of the whole tree, cheaper than building each part
        return NormalizedRecord.model_validate(data)
    except ValidationError:
        return record_by_parts(data)  # raises the error (and its field paths) a rejection reports


def record_by_parts(data: dict[str, Any]) -> NormalizedRecord:
    """The record built part by part (`Contact(...)`, then `Interaction(...)`, ...), the
    reference for `model_validate` of the whole, and where a violation's field path comes
    from (the failing part's own fields)."""
    event = data["event"]
    return NormalizedRecord(
        document_id=data["document_id"],
        subject_id=data["subject_id"],
        contact=Contact(**data["contact"]),
        interaction=Interaction(**data["interaction"]),
        event=Event(**event) if event is not None else None,
        lineage=Lineage(**data["lineage"]),
        answers=[Answer(**answer) for answer in data.get("answers", [])],
    )
