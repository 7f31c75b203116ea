"""The subject id of an email, with the email normalized exactly as ingest normalizes it, so
an erasure request by email and a tombstone check find the ids the lake holds."""

from __future__ import annotations

from typing import Any

from chalicelib.normalize import field_normalizers
from chalicelib.subjects.pseudonyms import subject_id


def normalized_email(value: Any) -> str | None:
    try:
        return field_normalizers.email(value)
    except field_normalizers.FieldInvalid:
        return None


def subject_id_of_email(email: str, key: bytes) -> str:
    """The pseudonymous id ingest gives this email."""
    normalized = normalized_email(email)
    if normalized is None:
        raise ValueError("not a normalizable email address")
    return subject_id(normalized, key)
