"""The pseudonymous subject id: a keyed HMAC-SHA256 of a person's normalized email.

It joins a person's records across sources without the email itself; the key is the
`subject-key` secret, so the id cannot be recomputed from an email without it.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from chalicelib.subjects.exceptions import WeakSubjectKey

MIN_SUBJECT_KEY_BYTES = 16


@lru_cache(maxsize=4)
def _keyed_hmac(key: bytes) -> hmac.HMAC:
    """An HMAC object holding only the key; copies of it skip re-hashing the key's pads."""
    return hmac.new(key, digestmod=hashlib.sha256)


def subject_id(email_normalized: str, key: bytes) -> str:
    """Keyed HMAC-SHA256 (hex, 64 characters) of a normalized email."""
    if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_SUBJECT_KEY_BYTES:
        raise WeakSubjectKey(f"the subject id key must be at least {MIN_SUBJECT_KEY_BYTES} bytes")
    mac = _keyed_hmac(bytes(key)).copy()
    mac.update(email_normalized.encode("utf-8"))
    return mac.hexdigest()
