"""The audit log on the emulator: appended once per call, read newest first, by time and principal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.auth.audit import RETENTION, AuditEntry, AuditLog
from chalicelib.auth.exceptions import InvalidAuditQuery

CONFIG = "data-engine-local-config"
START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def entry(minute: int, name: str = "alice", **targets: str) -> AuditEntry:
    return AuditEntry(
        at=START + timedelta(minutes=minute),
        request_id=f"req-{minute}",
        token_id=f"tk-{name}",
        name=name,
        role="admin",
        route="POST /tokens",
        status=201,
        targets=targets,
    )


def test_entries_come_newest_first_in_pages_within_a_window_and_by_principal(stack: boto3.Session) -> None:
    log = AuditLog(CONFIG, stack.client("dynamodb"))
    for minute in range(5):
        log.append(entry(minute, "alice" if minute % 2 == 0 else "bob", token_id=f"tk-{minute}"))

    page = log.entries(limit="2")
    assert [e["request_id"] for e in page["entries"]] == ["req-4", "req-3"]
    rest = log.entries(limit="10", next_token=page["next_token"])
    assert [e["request_id"] for e in rest["entries"]] == ["req-2", "req-1", "req-0"]
    window = log.entries(
        since=(START + timedelta(minutes=1)).isoformat(), until=(START + timedelta(minutes=3)).isoformat()
    )
    assert [e["request_id"] for e in window["entries"]] == ["req-3", "req-2", "req-1"]
    assert [e["request_id"] for e in log.entries(principal="bob")["entries"]] == ["req-3", "req-1"]
    assert [e["request_id"] for e in log.entries(principal="tk-alice")["entries"]] == ["req-4", "req-2", "req-0"]
    assert page["entries"][0] == {
        "at": (START + timedelta(minutes=4)).isoformat(),
        "request_id": "req-4",
        "principal": {"token_id": "tk-alice", "name": "alice", "role": "admin"},
        "route": "POST /tokens",
        "status": 201,
        "targets": {"token_id": "tk-4"},
    }


def test_an_entry_expires_after_400_days_and_keeps_ids_only(stack: boto3.Session) -> None:
    dynamodb = stack.client("dynamodb")
    AuditLog(CONFIG, dynamodb).append(entry(0, subject_id="s" * 64, email="anna@example.com", note="free text here"))
    [item] = dynamodb.scan(TableName=CONFIG)["Items"]
    assert int(item["expires_at"]["N"]) == int((START + RETENTION).timestamp())
    assert json.loads(item["targets"]["S"]) == {"subject_id": "s" * 64}
    assert "anna" not in json.dumps(item)


@pytest.mark.parametrize(
    "query", [{"since": "yesterday"}, {"limit": "0"}, {"limit": "501"}, {"next_token": "bm90IGpzb24"}]
)
def test_a_bad_query_is_a_clear_400(stack: boto3.Session, query: dict[str, str]) -> None:
    with pytest.raises(InvalidAuditQuery):
        AuditLog(CONFIG, stack.client("dynamodb")).entries(**query)  # type: ignore[arg-type]
