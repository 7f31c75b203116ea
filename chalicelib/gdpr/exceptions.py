"""The GDPR package's errors. None of them carries personal data: keys, counts, ids only."""
from __future__ import annotations


class GdprError(Exception):
    """Base of the GDPR package's errors."""


class InvalidErasureRequest(GdprError):
    """An erasure request body the API cannot take (the message never echoes the input)."""


class UnknownErasureRequest(GdprError):
    """No erasure request or job with this id."""


class InvalidTransition(GdprError):
    """A request or job status change the state table does not allow (or lost a race)."""


class QueryFailed(GdprError):
    """The query engine could not run a query."""


class UnsupportedObjectFormat(GdprError):
    """An object whose format the rewriter cannot read record by record."""


class NothingRemoved(GdprError):
    """The find said the object holds the subjects, yet the rewrite removed no row.

    Never a silent success: either the find and the rewrite disagree on who a record
    belongs to, or the object changed in between. The original is left as it was.
    """


class RewriteVerificationFailed(GdprError):
    """The rewritten content did not check out (row counts, remaining subjects, schema).

    Raised before anything is written, so the original object is intact.
    """


class ObjectChanged(GdprError):
    """The object changed between read and write (conditional PUT failed); nothing written."""


class TracesRemain(GdprError):
    """Verification found the subjects still present after the rewrite."""


class InvalidRetentionPolicy(GdprError):
    """A retention policy (or its name) the API cannot take."""


class UnknownRetentionPolicy(GdprError):
    """No retention policy with this name."""


class BatchTooLarge(GdprError):
    """More erasure requests in one API call than one job takes."""


class ObjectMissing(GdprError):
    """The object is not (or no longer) in its bucket."""


class UnknownAnonymizationRun(GdprError):
    """No anonymization run with this id."""
