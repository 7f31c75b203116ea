"""Errors of reading and rewriting lake, raw and quarantine objects. Keys, counts and ids only."""

from __future__ import annotations


class LakeAccessError(Exception):
    """Base of the lake access errors."""


class QueryFailed(LakeAccessError):
    """The query engine could not run a query."""


class UnsupportedObjectFormat(LakeAccessError):
    """An object whose format the rewriter cannot read record by record."""


class NothingRemoved(LakeAccessError):
    """The find said the object holds the subjects, yet the rewrite removed no row.

    Never a silent success: either the find and the rewrite disagree on who a record
    belongs to, or the object changed in between. The original is left as it was.
    """


class RewriteVerificationFailed(LakeAccessError):
    """The rewritten content did not check out (row counts, remaining subjects, schema).

    Raised before anything is written, so the original object is intact.
    """


class ObjectChanged(LakeAccessError):
    """The object changed between read and write (conditional PUT failed); nothing written."""


class ObjectMissing(LakeAccessError):
    """The object is not (or no longer) in its bucket."""
