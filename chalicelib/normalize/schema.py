"""The normalized schema every connector maps into (pydantic v2), and the rejection shape.

A `NormalizedRecord` is one interaction of one person with the company: who (`Contact`),
what and when (`Interaction`), at which event (`Event`, when there is one), and where it
came from (`Lineage`). Its `document_id` is derived from the source and the platform's own
record id, so a re-delivered record maps onto the same document: each delivery is a version
of it, ordered by `Lineage.version_at` (the platform's change time; see `versions.py`). Its `subject_id` is a keyed
HMAC of the normalized email: it joins all records of one person without exposing the email.

`Rejected` and `Reason` describe a record that failed validation. A reason names the field
and a code and has a fixed message: it never carries the offending value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 3  # 2: `answers`; 3: `version_at`


class InteractionType(StrEnum):
    """The fixed vocabulary of interaction types (SAP interaction types map from these)."""

    REGISTRATION = "registration"
    TICKET_PURCHASE = "ticket_purchase"
    CHECK_IN = "check_in"
    CANCELLATION = "cancellation"
    REFUND = "refund"
    LEAD_FORM = "lead_form"
    ORDER = "order"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


class Consent(_Model):
    """Marketing consent as the platform stated it: granted or refused, when, and where."""

    granted: bool
    at: datetime | None = None
    source: str = Field(min_length=1, max_length=200)

    _at_utc = field_validator("at")(_utc)


class Contact(_Model):
    email: str | None = Field(default=None, max_length=320)  # normalized, see field_normalizers
    first_name: str | None = Field(default=None, max_length=200)  # Unicode NFC
    last_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{1,14}$")  # E.164
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")  # ISO 639-1
    marketing_consent: Consent | None = None


class Interaction(_Model):
    type: InteractionType
    occurred_at: datetime  # UTC
    amount: Decimal | None = Field(default=None, max_digits=18, decimal_places=4)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")  # ISO 4217
    order_id: str | None = Field(default=None, max_length=200)
    item: str | None = Field(default=None, max_length=500)  # ticket class, product name
    quantity: int | None = Field(default=None, ge=0)

    _occurred_utc = field_validator("occurred_at")(_utc)


class Event(_Model):
    id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=500)
    start: datetime | None = None  # UTC
    venue: str | None = Field(default=None, max_length=500)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")

    _start_utc = field_validator("start")(_utc)


class Answer(_Model):
    """A custom question of a lead form or registration and the person's answer(s).

    `key` is the platform's question id or name, `label` the question as shown where the
    platform gives it. Answers are free text the person typed or chose: personal data.
    """

    key: str = Field(min_length=1, max_length=200)
    label: str | None = Field(default=None, max_length=500)
    values: list[str] = Field(min_length=1, max_length=50)

    @field_validator("values")
    @classmethod
    def _values_fit(cls, values: list[str]) -> list[str]:
        if any(not value or len(value) > 2000 for value in values):
            raise ValueError("an answer value is 1 to 2000 characters")
        return values


class Lineage(_Model):
    source: str
    source_record_id: str
    raw_key: str
    position: int
    ingested_at: datetime
    # the platform's change time of this version, else the ingest time (None: read as that)
    version_at: datetime | None = None

    _ingested_utc = field_validator("ingested_at", "version_at")(_utc)


class NormalizedRecord(_Model):
    document_id: str
    subject_id: str | None  # None only where the platform delivers no email (Amazon order reports)
    contact: Contact
    interaction: Interaction
    event: Event | None = None
    lineage: Lineage
    answers: list[Answer] = Field(default_factory=list)  # custom questions answered, in form order
    schema_version: int = SCHEMA_VERSION


class Reason(_Model):
    """Why a record is INVALID: the field, a code from `ReasonCode`, a fixed message."""

    field: str
    code: str
    message: str


class Rejected(_Model):
    """A record that failed validation. Carries no personal value; the raw record goes to quarantine."""

    document_id: str
    source: str
    source_record_id: str | None
    position: int
    reasons: list[Reason]
