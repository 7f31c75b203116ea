"""The document lifecycle as data: states, allowed transitions, and one state change.

A `StateChange` carries ids, a state, a time and correlation ids — never personal data:
every free-text-like field is restricted to an id alphabet (no `@`, no spaces), and the
model forbids unknown fields. `subject_id` is the pseudonymous subject (keyed HMAC).
An INVALID change carries its reasons as (field, code) pairs: schema field names and the
normalizer's codes, never the values.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


class State(str, enum.Enum):
    RECEIVED = "RECEIVED"
    NORMALIZED = "NORMALIZED"
    INVALID = "INVALID"
    QUEUED_FOR_SAP = "QUEUED_FOR_SAP"
    NOT_FOR_SAP = "NOT_FOR_SAP"  # valid and in the lake, but nothing SAP could take (no contact)
    DELIVERED = "DELIVERED"
    REJECTED_BY_SAP = "REJECTED_BY_SAP"
    PARKED = "PARKED"  # in a dead-letter queue, replayable
    ANONYMIZED = "ANONYMIZED"
    ERASED = "ERASED"


_END_OF_LIFE = (State.ANONYMIZED, State.ERASED)

# state -> the states a document may go to next. Replays are transitions like any other:
# a parked or rejected document goes back into the pipeline.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset({State.NORMALIZED, State.INVALID, State.PARKED, *_END_OF_LIFE}),
    State.NORMALIZED: frozenset({State.QUEUED_FOR_SAP, State.NOT_FOR_SAP, State.PARKED, *_END_OF_LIFE}),
    State.NOT_FOR_SAP: frozenset({State.QUEUED_FOR_SAP, *_END_OF_LIFE}),
    State.INVALID: frozenset({State.RECEIVED, *_END_OF_LIFE}),
    State.QUEUED_FOR_SAP: frozenset(
        {State.QUEUED_FOR_SAP, State.DELIVERED, State.REJECTED_BY_SAP, State.PARKED, *_END_OF_LIFE}
    ),
    State.DELIVERED: frozenset({State.QUEUED_FOR_SAP, *_END_OF_LIFE}),
    State.REJECTED_BY_SAP: frozenset({State.QUEUED_FOR_SAP, *_END_OF_LIFE}),
    State.PARKED: frozenset({State.RECEIVED, State.NORMALIZED, State.QUEUED_FOR_SAP, *_END_OF_LIFE}),
    State.ANONYMIZED: frozenset({State.ERASED}),
    # a copy suppressed by an erasure tombstone after the job (a late chunk, a queued SAP
    # record) confirms the erasure; nothing leaves ERASED
    State.ERASED: frozenset({State.ERASED}),
}

INITIAL_STATES = frozenset({State.RECEIVED})
# A document rests in these; anything else that stays long is "stuck".
FINAL_STATES = frozenset(
    {
        State.INVALID,
        State.NOT_FOR_SAP,
        State.DELIVERED,
        State.REJECTED_BY_SAP,
        State.PARKED,
        State.ANONYMIZED,
        State.ERASED,
    }
)
IN_FLIGHT_STATES = frozenset(State) - FINAL_STATES

# Position in the normal flow: breaks ties between changes reported in the same millisecond.
RANK: dict[State, int] = {state: position for position, state in enumerate(State)}
# End-of-life states win over anything reported later by a slow component (clock skew,
# late re-delivery): an erased document never comes back to life in the State Keeper.
TIER: dict[State, int] = {State.ANONYMIZED: 1, State.ERASED: 2}

# One letter per state: counter attribute names (`n{state}`, `t{from}{to}…`) are parsed by position.
STATE_CODES: dict[State, str] = {state: string.ascii_lowercase[RANK[state]] for state in State}
STATES_BY_CODE: dict[str, State] = {code: state for state, code in STATE_CODES.items()}


def is_allowed(previous: State, following: State) -> bool:
    return following in TRANSITIONS[previous]


def _utc_millis(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a state change time must carry a time zone (UTC)")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")]
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_]{0,63}$")]
UtcMillis = Annotated[datetime, AfterValidator(_utc_millis)]

MAX_REASONS = 10  # kept per INVALID change: a document item stays one write unit
REASON_FIELD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")  # a schema field name: `contact.email`
FIELD_CODE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")  # the normalizer's code: `invalid_email`
FIELD_FALLBACK = "record"
FieldReason = tuple[
    Annotated[str, StringConstraints(pattern=REASON_FIELD.pattern)],
    Annotated[str, StringConstraints(pattern=FIELD_CODE.pattern)],
]
Reasons = Annotated[tuple[FieldReason, ...], Field(min_length=1, max_length=MAX_REASONS)]


def field_reasons(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The distinct (field, code) pairs a change may carry, in order, at most `MAX_REASONS`.

    A field name outside the id alphabet (a schema path pydantic made up) reads `record`;
    a code outside it is left out."""
    kept: dict[tuple[str, str], None] = {}
    for field_name, code in pairs:
        code = code.lower()
        if not FIELD_CODE.match(code):
            continue
        kept.setdefault((field_name if REASON_FIELD.match(field_name) else FIELD_FALLBACK, code), None)
        if len(kept) == MAX_REASONS:
            break
    return tuple(kept)


class StateChange(BaseModel):
    """One document entering one state, as reported by one component."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_id: Identifier
    state: State
    at: UtcMillis  # UTC, millisecond precision (what is stored)
    component: Identifier
    attempt: int = Field(default=1, ge=1, le=1000)
    reason_code: ReasonCode | None = None
    reasons: Reasons | None = None  # INVALID: (field, code) pairs, never a value
    file_id: Identifier | None = None
    chunk_id: Identifier | None = None
    sap_batch_id: Identifier | None = None
    source: Identifier | None = None
    subject_id: Identifier | None = None  # pseudonymous (keyed HMAC), never an email or name
    # NORMALIZED: the version of the platform record this is (`normalize/versions.py`)
    version_id: Identifier | None = None
    version_at: UtcMillis | None = None
    interaction: Identifier | None = None  # the version's interaction type

    @property
    def at_ms(self) -> int:
        return epoch_millis(self.at)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_millis(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def from_epoch_millis(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)
