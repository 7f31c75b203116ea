"""State changes the State Keeper could not record are parked in its DLQ and replayed home."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType

import boto3
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.auth.tokens import TokenStore
from chalicelib.state_keeper.lifecycle import State
from devstack.stack import load_app
from tests.integration.on_the_emulator import RESOURCES, lambda_records, queue_url, run_handler
from tests.unit.state_keeper.changes import change


@pytest.fixture
def app_module(stack: boto3.Session) -> ModuleType:
    return load_app()


@pytest.fixture
def client(app_module: ModuleType) -> Iterator[Client]:
    with Client(app_module.app, stage_name="local") as test_client:
        yield test_client


def test_a_parked_state_change_is_replayed_and_recorded(stack: boto3.Session, client: Client) -> None:
    # GIVEN a document's RECEIVED change that the State Keeper failed on until SQS parked it
    reporter = wiring.state_reporter()
    reporter.report(change("doc-parked", State.RECEIVED, 1, subject_id="subj-1"))
    reporter.flush()
    [record] = lambda_records(stack, "state-changes")
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=queue_url(stack, "state-changes-dlq"), MessageBody=record["body"])
    sqs.delete_message(QueueUrl=queue_url(stack, "state-changes"), ReceiptHandle=record["receiptHandle"])
    assert wiring.state_store().get_many({"doc-parked"}) == {}
    # WHEN an operator replays the State Keeper's DLQ
    tokens = TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
    operator = {"Authorization": f"Bearer {tokens.create('ops', 'operator', 1).token}"}
    answer = client.http.post("/state-changes/replay", headers=operator)
    # THEN the change is back on the State Keeper's queue, the DLQ is empty, and it is recorded
    assert (answer.status_code, json.loads(answer.body)) == (200, {"replayed": 1})
    assert lambda_records(stack, "state-changes-dlq") == []
    assert run_handler(stack, "state-changes", wiring.state_keeper().handle) == {"batchItemFailures": []}
    assert wiring.state_store().get_many({"doc-parked"})["doc-parked"].state == State.RECEIVED


def test_a_viewer_may_not_replay(stack: boto3.Session, client: Client) -> None:
    tokens = TokenStore(RESOURCES.table("config").name, stack.client("dynamodb"))
    viewer = {"Authorization": f"Bearer {tokens.create('ops', 'viewer', 1).token}"}
    assert client.http.post("/state-changes/replay", headers=viewer).status_code == 403
