"""API tokens: random secrets shown once, stored as SHA-256 hashes in the config table.

A token is `de_` + 43 URL-safe characters (256 bits), so a fast hash is enough: there
is nothing to brute-force the way there is with a password. The table never holds a
token, only its hash, the token's name (who it is for) and its role.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.auth.exceptions import UnknownToken

TOKEN_PREFIX = "de_"
ROLES = ("operator", "admin")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(digest: str) -> dict[str, Any]:
    return {"pk": {"S": f"token#{digest}"}, "sk": {"S": "token"}}


class TokenStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    def create(self, name: str, role: str = "operator") -> str:
        """Store a new token for `name`; returns the token, which is never stored."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.client.put_item(
            TableName=self.table_name,
            Item={
                **_key(token_hash(token)),
                "name": {"S": name},
                "role": {"S": role},
                "created_at": {"S": datetime.now(UTC).isoformat()},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return token

    def revoke(self, token: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=_key(token_hash(token)))

    def principal(self, token: str) -> Principal:
        """The principal a token belongs to; raises `UnknownToken`."""
        if not token.startswith(TOKEN_PREFIX):
            raise UnknownToken("not a Data Engine token")
        item = self.client.get_item(TableName=self.table_name, Key=_key(token_hash(token)), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            raise UnknownToken("unknown or revoked token")
        return Principal(name=item["name"]["S"], role=item["role"]["S"])


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header value ('' if malformed)."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
