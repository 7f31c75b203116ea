from __future__ import annotations


class AuthError(Exception):
    """Base of the auth package's errors."""


class UnknownToken(AuthError):
    """The presented token matches no stored hash (or was revoked)."""
