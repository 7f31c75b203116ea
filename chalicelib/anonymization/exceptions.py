"""Errors of retention policies and anonymization runs. No personal data in any message."""

from __future__ import annotations


class AnonymizationError(Exception):
    """Base of the anonymization errors."""


class InvalidRetentionPolicy(AnonymizationError):
    """A retention policy (or its name) the API cannot take."""


class UnknownRetentionPolicy(AnonymizationError):
    """No retention policy with this name."""


class UnknownAnonymizationRun(AnonymizationError):
    """No anonymization run with this id."""


class InvalidRunTransition(AnonymizationError):
    """A run status change the config table does not allow (or lost a race)."""
