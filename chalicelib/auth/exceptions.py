"""Bearer tokens for the operations API: created by a command or by an admin, stored only as hashes."""

from __future__ import annotations


class AuthError(Exception):
    """Base of the auth package's errors."""


class UnknownToken(AuthError):
    """The presented token matches no stored hash, or it was revoked or has expired."""


class NoSuchToken(AuthError):
    """No token has this id (`DELETE /tokens/{id}`)."""


class InvalidTokenRequest(AuthError):
    """A token's name, role or expiry is not acceptable."""


class InvalidAuditQuery(AuthError):
    """`GET /audit`'s since, until, limit or next_token is not acceptable."""
