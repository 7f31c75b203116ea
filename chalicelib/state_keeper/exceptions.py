"""The State Keeper's errors. None carries personal data: ids, state names and counts only."""

from __future__ import annotations


class StateKeeperError(Exception):
    """Base of the State Keeper's errors."""


class InvalidQuery(StateKeeperError):
    """A query parameter the State Keeper cannot take; the message says which and why (HTTP 400)."""


class InvalidStateMessage(StateKeeperError):
    """A state-change message body that is not a batch of valid state changes."""


class ConcurrentUpdate(StateKeeperError):
    """A document changed between read and conditional write more often than we retry."""


class UnknownDocument(StateKeeperError):
    """No record of this document (HTTP 404)."""


class CountersNotWritten(StateKeeperError):
    """DynamoDB kept returning a message's counter deltas unprocessed (throttling)."""
