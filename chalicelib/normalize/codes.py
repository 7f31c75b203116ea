"""The machine-readable codes of the package: record rejection reasons (the file problems' codes
are `raw_files`'). A `StrEnum`, so they serialize as their plain string values in messages, the
State Keeper and the quarantine bucket.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Why one record was rejected (INVALID). Paired with the field it concerns."""

    MISSING = "missing"
    INVALID_EMAIL = "invalid_email"
    INVALID_PHONE = "invalid_phone"
    INVALID_COUNTRY = "invalid_country"
    INVALID_LANGUAGE = "invalid_language"
    INVALID_DATETIME = "invalid_datetime"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_CURRENCY = "invalid_currency"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_CONSENT = "invalid_consent"
    INVALID_TEXT = "invalid_text"
    TOO_LONG = "too_long"
    UNKNOWN_INTERACTION_TYPE = "unknown_interaction_type"
    MISSING_RECORD_ID = "missing_record_id"
    TEST_RECORD = "test_record"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_SOURCE = "unknown_source"
    UNREADABLE_RECORD = "unreadable_record"
    SCHEMA_VIOLATION = "schema_violation"
