"""What can go wrong receiving or pulling platform data. Messages carry ids, codes and
counts only, never a payload value (payloads hold personal data)."""

from __future__ import annotations


class IntakeError(Exception):
    """Base of the intake's errors."""


class DeliveryRefused(IntakeError):
    """A webhook delivery that fails the platform's authentication or our allow-list.

    `status` is the HTTP answer (401: no or wrong credential, 403: authenticated but not
    allowed, e.g. an unconfigured event); `reason` is a short code for the refusal metric.
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class PlatformUnavailable(IntakeError):
    """The platform's API did not answer usefully (429, 5xx, timeout): try again later."""

    def __init__(self, platform: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{platform}: {message}")
        self.platform = platform
        self.retry_after = retry_after


class PlatformRefused(IntakeError):
    """The platform's API refused the request for good (a 4xx other than 429): a retry will
    not help until someone fixes a credential or a setting."""

    def __init__(self, platform: str, status: int, message: str) -> None:
        super().__init__(f"{platform}: HTTP {status}: {message}")
        self.platform = platform
        self.status = status


class UnknownIntakeSource(IntakeError):
    """No webhook or pull source of that name is declared."""


class InvalidSourceSettings(IntakeError):
    """A source's settings (from `PUT /sources/{name}`) that cannot be used."""


class MalformedDelivery(DeliveryRefused):
    """A webhook body that passed authentication but is not the platform's documented shape."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(400, reason, message)
