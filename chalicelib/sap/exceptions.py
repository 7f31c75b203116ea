"""Errors of the SAP dispatch package."""

from __future__ import annotations


class SapError(Exception):
    """Base of the SAP package's errors."""


class MetadataError(SapError):
    """The EDMX does not declare what the code asked for (service, entity set, property)."""


class PayloadInvalid(SapError):
    """A payload breaks SAP's metadata (unknown field, too long, missing key); never sent.

    `problems` names fields and rules only, never values (values may be personal data).
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class CredentialsMissing(SapError):
    """Neither a secret (SAP_SECRET_ARN) nor SAP_BASE_URL/SAP_USER/SAP_PASSWORD is configured."""


class SapAuthenticationFailed(SapError):
    """SAP answered 401: the communication user or password is wrong. Not retryable by us."""


class SapUnavailable(SapError):
    """SAP could not take the request now (429, 5xx, timeout, reset); retry later.

    `in_doubt` is True when SAP may have processed the request before it failed
    (read timeout, reset after the request was sent).
    """

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None, in_doubt: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.in_doubt = in_doubt


class SapProtocolError(SapError):
    """SAP answered something the OData V2 protocol does not allow (e.g. a malformed $batch)."""


class OutboxUnavailable(SapError):
    """SQS did not take some SAP dispatch messages; the caller retries (sending again is safe)."""


class InvalidThrottleSettings(SapError):
    """An operator's throttle change names an unknown setting or a rate that is not positive."""


class SapErasureIncomplete(SapError):
    """Some subjects' contacts could not be erased in SAP (after retries); counts only, no ids."""
