"""Opaque, tamper-evident next tokens: a store cursor bound to the query that made it.

A token is `base64url(json).base64url(hmac)`. The HMAC covers the cursor and a digest of
the query parameters, so a token edited by hand, truncated, or reused with other
parameters is refused with a clear `InvalidQuery` instead of giving odd pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.state_keeper.exceptions import InvalidQuery

MAX_TOKEN_LENGTH = 2048


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def query_digest(parameters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode_token(cursor: dict[str, Any], parameters: dict[str, Any], key: bytes) -> str:
    payload = json.dumps({"c": cursor, "q": query_digest(parameters)}, separators=(",", ":")).encode()
    signature = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(signature)}"


def decode_token(token: str, parameters: dict[str, Any], key: bytes) -> dict[str, Any]:
    refused = InvalidQuery("next_token is not a token this query issued; start again without it")
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise refused
    payload_text, signature_text = token.split(".")
    try:
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except ValueError as error:
        raise refused from error
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(signature, expected):
        raise refused
    document = json.loads(payload)
    if document.get("q") != query_digest(parameters) or not isinstance(document.get("c"), dict):
        raise refused
    return document["c"]
