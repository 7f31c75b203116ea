"""What the console's asset lookup raises."""

from __future__ import annotations


class UnknownAsset(LookupError):
    """A name that is not one of the console's files."""
