"""API tokens on the emulator: stored only as hashes, listed without them, revoked by id, expiring."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.auth.exceptions import InvalidTokenRequest, NoSuchToken, UnknownToken
from chalicelib.auth.tokens import TokenStore, bearer_token, token_hash

CONFIG = "data-engine-local-config"


def store_of(stack: boto3.Session) -> TokenStore:
    return TokenStore(CONFIG, stack.client("dynamodb"))


def test_a_created_token_identifies_its_principal_and_is_stored_only_as_a_hash(stack: boto3.Session) -> None:
    store = store_of(stack)
    created = store.create("alice", "admin", 30)

    principal = store.principal(created.token)
    assert (principal.token_id, principal.name, principal.role) == (created.info.token_id, "alice", "admin")
    stored = json.dumps(stack.client("dynamodb").scan(TableName=CONFIG)["Items"])
    assert created.token not in stored
    assert token_hash(created.token) in stored


def test_the_list_shows_every_token_without_its_secret_or_hash(stack: boto3.Session) -> None:
    store = store_of(stack)
    alice, bob = store.create("alice", "viewer", 10), store.create("bob", "privacy", 365)
    now = datetime.now(UTC)
    listed = [info.public(now) for info in store.tokens()]
    assert [(t["id"], t["name"], t["role"], t["status"]) for t in listed] == [
        (alice.info.token_id, "alice", "viewer", "active"),
        (bob.info.token_id, "bob", "privacy", "active"),
    ]
    assert set(listed[0]) == {"id", "name", "role", "created", "expires", "last_used", "revoked", "status"}
    text = json.dumps(listed)
    assert alice.token not in text and token_hash(alice.token) not in text and token_hash(bob.token) not in text


def test_a_revoked_token_is_refused_and_stays_listed_as_revoked(stack: boto3.Session) -> None:
    store = store_of(stack)
    created = store.create("bob", "operator", 1)
    revoked = store.revoke(created.info.token_id)
    assert revoked.revoked_at is not None
    with pytest.raises(UnknownToken):
        store.principal(created.token)
    assert store.revoke(created.info.token_id).revoked_at == revoked.revoked_at  # a second revoke changes nothing
    assert [t.public(datetime.now(UTC))["status"] for t in store.tokens()] == ["revoked"]
    with pytest.raises(NoSuchToken):
        store.revoke("tk-0000000000000000")
    with pytest.raises(UnknownToken):
        store.principal("not-even-a-token")


def test_an_expired_token_is_refused(stack: boto3.Session) -> None:
    store = store_of(stack)
    created = store.create("carol", "viewer", 1, now=datetime.now(UTC) - timedelta(days=2))
    with pytest.raises(UnknownToken, match="expired"):
        store.principal(created.token)
    assert store.principal(created.token, now=datetime.now(UTC) - timedelta(days=1, hours=1)).name == "carol"
    assert store.tokens()[0].public(datetime.now(UTC))["status"] == "expired"


def test_last_use_is_written_at_most_once_an_hour(stack: boto3.Session) -> None:
    store = store_of(stack)
    created = store.create("dave", "viewer", 1)
    now = datetime.now(UTC)
    assert store.record_use(store.principal(created.token), now=now)
    assert not store.record_use(store.principal(created.token), now=now + timedelta(minutes=59))
    # a stale view of the token (another container) does not write again either
    stale = store.principal(created.token)
    assert not store.record_use(stale.__class__(stale.token_id, stale.name, stale.role), now=now + timedelta(minutes=1))
    assert store.record_use(store.principal(created.token), now=now + timedelta(minutes=61))
    assert store.tokens()[0].last_used_at == now + timedelta(minutes=61)


@pytest.mark.parametrize(
    ("name", "role", "days"),
    [("eve", "root", 1), ("eve", "admin", 0), ("eve", "admin", 366), ("eve@example.com", "admin", 1), ("", "admin", 1)],
)
def test_a_token_needs_a_known_role_a_plain_name_and_an_expiry_within_a_year(
    stack: boto3.Session, name: str, role: str, days: int
) -> None:
    with pytest.raises(InvalidTokenRequest) as refused:
        store_of(stack).create(name, role, days)
    assert "example.com" not in str(refused.value)


@pytest.mark.parametrize(
    "header, token", [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", ""), ("abc", "")]
)
def test_the_bearer_scheme_is_required(header: str, token: str) -> None:
    assert bearer_token(header) == token


def test_the_stage_command_makes_the_first_token_in_the_stages_own_table(
    stack: boto3.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra.tokens import create_token, main

    class Recording:
        def __init__(self) -> None:
            self.tables: set[str] = set()

        def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
            self.tables |= {item["Put"]["TableName"] for item in TransactItems}

    recording = Recording()
    create_token("prod", "first-admin", "admin", 30, recording)
    assert recording.tables == {"data-engine-prod-config"}
    # on the local stage (the emulator here): printed once, and it works
    assert main(["create", "ops", "--role", "admin", "--stage", "local", "--expires-in-days", "3"]) == 0
    token = capsys.readouterr().out.strip()
    assert store_of(stack).principal(token).role == "admin"
