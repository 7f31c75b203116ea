"""Errors of the normalize package. None carries a personal value in its message."""

from __future__ import annotations


class NormalizeError(Exception):
    """Base of the normalize package's errors."""


class UnknownSource(NormalizeError):
    """A source name (from a raw key or a push route) that has no connector."""


class MalformedRawKey(NormalizeError):
    """A raw object key not of the layout `incoming/{source}/{yyyy}/{mm}/{dd}/{file_id}.{ext}`."""


class ChunkItemTooLarge(NormalizeError):
    """One item alone is over a chunk's byte budget (the reader's record limit should prevent it)."""


class InvalidLakePartition(NormalizeError):
    """A lake key part that would break the partition layout (e.g. a `/` in a chunk id)."""


class InvalidMapping(NormalizeError):
    """A source mapping that cannot be used; the message names each problem (field paths, no values)."""


class UnknownMapping(NormalizeError):
    """A source with no mapping (read by code, or never declared)."""
