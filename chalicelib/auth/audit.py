"""The audit log: who changed what through the operations API, kept 400 days.

One item per state-changing call (and per personal-data lookup) in the config table's
`audit` partition, sorted by time: `pk=audit`, `sk={iso time}#{request id}`. An entry holds
ids and codes only: the token's id and name, its role, the route template
(`POST /tokens`), the target ids (path parameters and the ids the call created; an email
only as its subject id), the outcome status and the request id. Request bodies are never
stored. Operators' calls are few, so one partition holds them all and a time range is one
query, newest first.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.auth.exceptions import InvalidAuditQuery

RETENTION = timedelta(days=400)
PARTITION = "audit"
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
_SORT_KEY = re.compile(r"^\d{4}-\d\d-\d\dT[0-9:.+]+#[A-Za-z0-9._:-]{1,128}$")
_ID = re.compile(r"^[A-Za-z0-9._:@/-]{1,200}$")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    request_id: str
    token_id: str
    name: str
    role: str
    route: str  # "METHOD /path/template"
    status: int
    targets: dict[str, str | list[str]] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "request_id": self.request_id,
            "principal": {"token_id": self.token_id, "name": self.name, "role": self.role},
            "route": self.route,
            "status": self.status,
            "targets": self.targets,
        }


def _sort_key(entry: AuditEntry) -> str:
    return f"{entry.at.astimezone(UTC).isoformat()}#{entry.request_id}"


def _bound(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidAuditQuery(f"{name}: an ISO 8601 time, e.g. 2026-11-30T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidAuditQuery(f"limit: a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def _start_key(next_token: str | None) -> dict[str, Any] | None:
    if next_token is None:
        return None
    try:
        sort_key = json.loads(base64.urlsafe_b64decode(next_token.encode()))["sk"]
    except (ValueError, KeyError, TypeError):
        raise InvalidAuditQuery("next_token: not a token this API gave") from None
    if not isinstance(sort_key, str) or not _SORT_KEY.match(sort_key):
        raise InvalidAuditQuery("next_token: not a token this API gave")
    return {"pk": {"S": PARTITION}, "sk": {"S": sort_key}}


def _next_token(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps({"sk": last_key["sk"]["S"]}).encode()).decode()


def _entry(item: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        at=datetime.fromisoformat(item["sk"]["S"].partition("#")[0]),
        request_id=item["request_id"]["S"],
        token_id=item["token_id"]["S"],
        name=item["name"]["S"],
        role=item["role"]["S"],
        route=item["route"]["S"],
        status=int(item["status"]["N"]),
        targets=json.loads(item["targets"]["S"]),
    )


def clean_targets(targets: dict[str, Any]) -> dict[str, str | list[str]]:
    """Ids only: a value that does not look like an id is left out, so nothing personal slips in."""
    kept: dict[str, str | list[str]] = {}
    for name, value in targets.items():
        if isinstance(value, str) and _ID.match(value) and "@" not in value:
            kept[name] = value
        elif isinstance(value, list):
            ids = [v for v in value if isinstance(v, str) and _ID.match(v) and "@" not in v]
            if ids:
                kept[name] = ids[:100]
    return kept


class AuditLog:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self.client = client

    def append(self, entry: AuditEntry) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": PARTITION},
                "sk": {"S": _sort_key(entry)},
                "request_id": {"S": entry.request_id},
                "token_id": {"S": entry.token_id},
                "name": {"S": entry.name},
                "role": {"S": entry.role},
                "route": {"S": entry.route},
                "status": {"N": str(entry.status)},
                "targets": {"S": json.dumps(clean_targets(entry.targets), sort_keys=True)},
                "expires_at": {"N": str(int((entry.at + RETENTION).timestamp()))},
            },
        )

    def entries(
        self,
        since: str | None = None,
        until: str | None = None,
        principal: str | None = None,
        limit: str | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        """Entries newest first, `principal` a token id or name; a page and its `next_token`."""
        start, end = _bound("since", since), _bound("until", until)
        size = _limit(limit)
        low = start.astimezone(UTC).isoformat() if start else "0"
        high = (end.astimezone(UTC).isoformat() if end else "9") + "#~"
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :audit AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":audit": {"S": PARTITION}, ":low": {"S": low}, ":high": {"S": high}},
            "ScanIndexForward": False,
            "Limit": size,
        }
        if principal is not None:
            query["FilterExpression"] = "token_id = :who OR #name = :who"
            query["ExpressionAttributeNames"] = {"#name": "name"}
            query["ExpressionAttributeValues"][":who"] = {"S": principal}
        start_key = _start_key(next_token)
        if start_key is not None:
            query["ExclusiveStartKey"] = start_key
        page = self.client.query(**query)
        return {
            "entries": [_entry(item).public() for item in page.get("Items", [])],
            "next_token": _next_token(page.get("LastEvaluatedKey")),
        }
