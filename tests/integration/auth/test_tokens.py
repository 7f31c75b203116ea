"""API tokens live only as hashes in the configuration table."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.auth.exceptions import UnknownToken
from chalicelib.auth.tokens import TokenStore, bearer_token, token_hash


def test_a_created_token_identifies_its_principal_and_is_stored_only_as_a_hash(stack: boto3.Session) -> None:
    dynamodb = stack.client("dynamodb")
    store = TokenStore("data-engine-local-config", dynamodb)
    token = store.create("alice", role="admin")

    assert store.principal(token).name == "alice"
    stored = dynamodb.scan(TableName="data-engine-local-config")["Items"]
    assert token not in str(stored)
    assert token_hash(token) in str(stored)


def test_a_revoked_or_unknown_token_is_refused(stack: boto3.Session) -> None:
    store = TokenStore("data-engine-local-config", stack.client("dynamodb"))
    token = store.create("bob")
    store.revoke(token)
    with pytest.raises(UnknownToken):
        store.principal(token)
    with pytest.raises(UnknownToken):
        store.principal("not-even-a-token")


def test_a_role_must_be_known(stack: boto3.Session) -> None:
    with pytest.raises(ValueError):
        TokenStore("data-engine-local-config", stack.client("dynamodb")).create("eve", role="root")


@pytest.mark.parametrize(
    "header, token", [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", ""), ("abc", "")]
)
def test_the_bearer_scheme_is_required(header: str, token: str) -> None:
    assert bearer_token(header) == token
