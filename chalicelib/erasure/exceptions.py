"""Errors of erasure requests and jobs. None carries personal data: ids and counts only."""

from __future__ import annotations


class ErasureError(Exception):
    """Base of the erasure errors."""


class InvalidErasureRequest(ErasureError):
    """An erasure request body the API cannot take (the message never echoes the input)."""


class UnknownErasureRequest(ErasureError):
    """No erasure request or job with this id."""


class InvalidTransition(ErasureError):
    """A request or job status change the state table does not allow (or lost a race)."""


class BatchTooLarge(ErasureError):
    """More erasure requests in one API call than one job takes."""


class JobNotRunning(ErasureError):
    """A cancel of an erasure job that is no longer running (HTTP 409)."""
