"""API tokens: random secrets shown once, stored as SHA-256 hashes in the config table.

A token is `de_` + 43 URL-safe characters (256 bits), so a fast hash is enough: there
is nothing to brute-force the way there is with a password. The table never holds a
token. Two items per token (config table, `pk`/`sk`):

- `token#{sha256}` / `token`: a pointer from the hash to the token's id, for the authorizer;
- `tokens` / `{token_id}`: the one record of the token: name, role, created, expires,
  last used, revoked. `GET /tokens` lists this partition.

Every token expires (at most `MAX_EXPIRES_IN_DAYS`); revoking deletes the pointer and marks
the record, which stays listed until its TTL (`RECORD_KEPT_DAYS` after expiry). Last use is
written at most once per `LAST_USED_EVERY` per token, not on every call.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.auth.exceptions import InvalidTokenRequest, NoSuchToken, UnknownToken
from chalicelib.auth.roles import ROLES

TOKEN_PREFIX = "de_"
MAX_EXPIRES_IN_DAYS = 365
LAST_USED_EVERY = timedelta(hours=1)
RECORD_KEPT_DAYS = 30
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # who it is for; no '@': not an email
TOKEN_ID_PATTERN = r"^tk-[0-9a-f]{16}$"


class TokenRequest(BaseModel):
    """`POST /tokens`: `{"name", "role", "expires_in_days"}`, all required."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=NAME_PATTERN)
    role: str
    expires_in_days: int = Field(ge=1, le=MAX_EXPIRES_IN_DAYS, strict=True)


def parse_token_request(body: Any) -> TokenRequest:
    """A validated token request; the error names the fields, never echoes their values."""
    if not isinstance(body, dict):
        raise InvalidTokenRequest('the body is {"name", "role", "expires_in_days"}')
    try:
        parsed = TokenRequest.model_validate(body)
    except ValidationError as error:
        problems = sorted(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False)
        )
        raise InvalidTokenRequest("; ".join(problems)) from None
    if parsed.role not in ROLES:
        raise InvalidTokenRequest(f"role: one of {', '.join(ROLES)}")
    return parsed


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to, as the authorizer hands it to the routes."""

    token_id: str
    name: str
    role: str
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    name: str
    role: str
    created_at: datetime
    expires: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def public(self, now: datetime) -> dict[str, Any]:
        """What `GET /tokens` shows: never the token or its hash."""
        status = "revoked" if self.revoked_at else "expired" if self.expires <= now else "active"
        return {
            "id": self.token_id,
            "name": self.name,
            "role": self.role,
            "created": self.created_at.isoformat(),
            "expires": self.expires.isoformat(),
            "last_used": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked": self.revoked_at.isoformat() if self.revoked_at else None,
            "status": status,
        }


@dataclass(frozen=True)
class CreatedToken:
    token: str  # shown once
    info: TokenInfo


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pointer_key(digest: str) -> dict[str, Any]:
    return {"pk": {"S": f"token#{digest}"}, "sk": {"S": "token"}}


def _record_key(token_id: str) -> dict[str, Any]:
    return {"pk": {"S": "tokens"}, "sk": {"S": token_id}}


def _time(item: dict[str, Any], name: str) -> datetime | None:
    return datetime.fromisoformat(item[name]["S"]) if name in item else None


def _info(item: dict[str, Any]) -> TokenInfo:
    created, expires = _time(item, "created_at"), _time(item, "expires")
    assert created is not None and expires is not None
    return TokenInfo(
        token_id=item["sk"]["S"],
        name=item["name"]["S"],
        role=item["role"]["S"],
        created_at=created,
        expires=expires,
        last_used_at=_time(item, "last_used_at"),
        revoked_at=_time(item, "revoked_at"),
    )


def _now() -> datetime:
    return datetime.now(UTC)


class TokenStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    def create(self, name: str, role: str, expires_in_days: int, *, now: datetime | None = None) -> CreatedToken:
        """Store a new token; the returned token is shown once and never stored."""
        request = parse_token_request({"name": name, "role": role, "expires_in_days": expires_in_days})
        now = now or _now()
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(
            token_id=f"tk-{uuid.uuid4().hex[:16]}",
            name=request.name,
            role=request.role,
            created_at=now,
            expires=now + timedelta(days=request.expires_in_days),
        )
        ttl = {"N": str(int((info.expires + timedelta(days=RECORD_KEPT_DAYS)).timestamp()))}
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            **_record_key(info.token_id),
                            "name": {"S": info.name},
                            "role": {"S": info.role},
                            "created_at": {"S": info.created_at.isoformat()},
                            "expires": {"S": info.expires.isoformat()},
                            "digest": {"S": token_hash(token)},
                            "expires_at": ttl,
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            **_pointer_key(token_hash(token)),
                            "token_id": {"S": info.token_id},
                            "expires_at": {"N": str(int(info.expires.timestamp()))},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
        return CreatedToken(token, info)

    def tokens(self) -> list[TokenInfo]:
        """Every token record (revoked and expired ones until their TTL), oldest first."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :tokens",
            "ExpressionAttributeValues": {":tokens": {"S": "tokens"}},
        }
        while True:
            page = self.client.query(**query)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted((_info(item) for item in items), key=lambda info: info.created_at)

    def revoke(self, token_id: str, *, now: datetime | None = None) -> TokenInfo:
        """Revoke a token by its id: the authorizer refuses it from its next uncached call."""
        item = self._record(token_id)
        if item is None:
            raise NoSuchToken(f"no token {token_id}")
        at = (now or _now()).isoformat()
        self.client.transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": self.table_name, "Key": _pointer_key(item["digest"]["S"])}},
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": _record_key(token_id),
                        "UpdateExpression": "SET revoked_at = if_not_exists(revoked_at, :at)",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":at": {"S": at}},
                    }
                },
            ]
        )
        refreshed = self._record(token_id)
        assert refreshed is not None
        return _info(refreshed)

    def principal(self, token: str, *, now: datetime | None = None) -> Principal:
        """The principal a token belongs to; `UnknownToken` if unknown, revoked or expired."""
        if not token.startswith(TOKEN_PREFIX):
            raise UnknownToken("not a Data Engine token")
        pointer = self.client.get_item(
            TableName=self.table_name, Key=_pointer_key(token_hash(token)), ConsistentRead=True
        ).get("Item")
        if pointer is None or "token_id" not in pointer:
            raise UnknownToken("unknown or revoked token")
        item = self._record(pointer["token_id"]["S"])
        if item is None:
            raise UnknownToken("unknown or revoked token")
        info = _info(item)
        if info.revoked_at is not None:
            raise UnknownToken("revoked token")
        if info.expires <= (now or _now()):
            raise UnknownToken("expired token")
        return Principal(info.token_id, info.name, info.role, info.last_used_at)

    def record_use(self, principal: Principal, *, now: datetime | None = None) -> bool:
        """Note the token's last use, at most once per `LAST_USED_EVERY`; True if written."""
        now = now or _now()
        if principal.last_used_at is not None and now - principal.last_used_at < LAST_USED_EVERY:
            return False
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_record_key(principal.token_id),
                UpdateExpression="SET last_used_at = :now",
                # another authorizer may have written it meanwhile: once is enough
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :due)"
                ),
                ExpressionAttributeValues={
                    ":now": {"S": now.isoformat()},
                    ":due": {"S": (now - LAST_USED_EVERY).isoformat()},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _record(self, token_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.client.get_item(
            TableName=self.table_name, Key=_record_key(token_id), ConsistentRead=True
        ).get("Item")
        return item


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header value ('' if malformed)."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
