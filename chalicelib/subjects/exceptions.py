"""Errors of the subjects package. None carries personal data."""

from __future__ import annotations


class SubjectsError(Exception):
    """Base of the subjects package's errors."""


class WeakSubjectKey(SubjectsError):
    """The configured HMAC key for subject ids is missing or too short."""


class TombstonesUnavailable(SubjectsError):
    """The erasure tombstones could not be read; records must not pass unchecked."""
